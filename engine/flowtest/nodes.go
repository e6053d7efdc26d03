package flowtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
)

// replay is the source that stands in for a graph's source: it emits fixed rows, or runs a
// delegate source (source.file for CSV, source.wav for WAV) with its port renamed.
type replay struct {
	port     string
	batch    int
	rows     []rows.Row
	delegate engine.Source
}

func (s *replay) Run(ctx context.Context, out engine.Output) error {
	if s.delegate != nil {
		return s.delegate.Run(ctx, renamed{out, s.port})
	}
	for i := 0; i < len(s.rows); i += s.batch {
		b := &rows.Batch{Rows: make([]rows.Row, 0, s.batch)}
		for _, r := range s.rows[i:min(i+s.batch, len(s.rows))] {
			b.Rows = append(b.Rows, r.Clone())
		}
		if err := out.Emit(s.port, b); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
	return nil
}

func (s *replay) Close() error {
	if c, ok := s.delegate.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}

// renamed sends a delegate's "out" rows to the replaced node's port.
type renamed struct {
	engine.Output
	port string
}

func (o renamed) Emit(port string, b *rows.Batch) error {
	if port == "out" {
		port = o.port
	}
	return o.Output.Emit(port, b)
}

func (o renamed) EmitAcked(port string, b *rows.Batch, ack func()) error {
	if port == "out" {
		port = o.port
	}
	return o.Output.EmitAcked(port, b, ack)
}

// capture is the sink that stands in for a graph's sink and the one wired to a tested port: it
// keeps the rows it receives, up to limit.
type capture struct {
	mu    sync.Mutex
	rows  []rows.Row
	total int64
	limit int
}

func (c *capture) Process(_ context.Context, _ string, b *rows.Batch, _ engine.Output) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total += int64(len(b.Rows))
	for _, r := range b.Rows {
		if len(c.rows) < c.limit {
			c.rows = append(c.rows, r.Clone())
		}
	}
	return nil
}

func (c *capture) result() ([]rows.Row, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rows, c.total
}

// typedRow reads a row's JSON view and converts the fields named in types.
func typedRow(raw []byte, types map[string]string) (rows.Row, error) {
	r, err := rows.ParseJSON(raw)
	if err != nil {
		return nil, err
	}
	for name, ty := range types {
		v, ok := r.Get(name)
		if !ok || v.IsNull() {
			continue
		}
		nv, err := convert(v, ty)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", name, err)
		}
		r.Set(name, nv)
	}
	return r, nil
}

func convert(v rows.Value, ty string) (rows.Value, error) {
	switch ty {
	case "float":
		if f, ok := v.AsFloat(); ok {
			return rows.Float(f), nil
		}
	case "timestamp":
		if s, ok := v.AsString(); ok {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return v, fmt.Errorf("timestamp: %w", err)
			}
			return rows.Timestamp(t), nil
		}
		if i, ok := v.AsInt(); ok {
			return rows.TimestampNanos(i), nil
		}
	case "bytes":
		if s, ok := v.AsString(); ok {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return v, fmt.Errorf("bytes: %w", err)
			}
			return rows.Bytes(b), nil
		}
	case "float32s":
		if l, ok := v.AsList(); ok {
			fs := make([]float32, len(l))
			for i, e := range l {
				f, ok := e.AsFloat()
				if !ok {
					return v, fmt.Errorf("float32s: element %d is a %s", i, e.Kind())
				}
				fs[i] = float32(f)
			}
			return rows.Float32s(fs), nil
		}
	}
	return v, fmt.Errorf("cannot read a %s as %s", v.Kind(), ty)
}

// maxLine bounds one line of a JSON-lines file.
const maxLine = 16 << 20

// eachLine calls fn with every non-blank line of a JSON-lines file (trimmed, valid until fn
// returns); errors name the file and line.
func eachLine(path string, fn func(b []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if err := fn(b); err != nil {
			return fmt.Errorf("%s line %d: %w", path, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s line %d: %w", path, line+1, err)
	}
	return nil
}

// readJSONL reads the rows of a JSON-lines file; errors name the file and line.
func readJSONL(path string, types map[string]string) ([]rows.Row, error) {
	var out []rows.Row
	err := eachLine(path, func(b []byte) error {
		r, err := typedRow(b, types)
		if err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// readRawJSONL reads a JSON-lines file of expected rows.
func readRawJSONL(path string) ([]json.RawMessage, error) {
	var out []json.RawMessage
	err := eachLine(path, func(b []byte) error {
		if !json.Valid(b) {
			return errors.New("not JSON")
		}
		out = append(out, json.RawMessage(bytes.Clone(b)))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
