package conformance_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/internal/conformance"
	_ "github.com/atoll-studio/atoll/nodes/core"
)

// fileSourceEnv is a JSON-lines file that source.file follows; Send appends lines.
type fileSourceEnv struct {
	path string
	mu   sync.Mutex
	line int
}

func (e *fileSourceEnv) Config() json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"path":%q,"format":"jsonl","follow":true,"poll_ms":10,"batch_size":16}`, e.path))
}

func (e *fileSourceEnv) appendLines(lines ...[]byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	f, err := os.OpenFile(e.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, l := range lines {
		buf.Write(l)
		buf.WriteByte('\n')
	}
	e.line += len(lines)
	_, err = f.Write(buf.Bytes())
	return errorsJoin(err, f.Close())
}

func (e *fileSourceEnv) Send(_ context.Context, rs []rows.Row) error {
	lines := make([][]byte, len(rs))
	for i, r := range rs {
		lines[i] = r.AppendJSON(nil)
	}
	return e.appendLines(lines...)
}

func (e *fileSourceEnv) SendMalformed(context.Context) (string, error) {
	if err := e.appendLines([]byte(`{"seq": 1, "broken`)); err != nil {
		return "", err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return fmt.Sprintf("line %d", e.line), nil
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func TestFileSource(t *testing.T) {
	conformance.TestSource(t, conformance.Source{
		Type: "source.file",
		// Its acknowledged offset is not persisted yet: a new run reads the file from the top.
		Replays: true,
		Start: func(t *testing.T) conformance.SourceEnv {
			p := filepath.Join(t.TempDir(), "in.jsonl")
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			return &fileSourceEnv{path: p}
		},
	})
}

// fileSinkEnv reads back what sink.file wrote.
type fileSinkEnv struct {
	path, format string
}

func (e *fileSinkEnv) Config() json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"path":%q,"format":%q}`, e.path, e.format))
}

func (e *fileSinkEnv) Received(context.Context) ([]rows.Row, error) {
	data, err := os.ReadFile(e.path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []rows.Row
	if e.format == "jsonl" {
		for i, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			r, err := rows.ParseJSON(line)
			if err != nil {
				return nil, fmt.Errorf("%s line %d: %w", e.path, i+1, err)
			}
			out = append(out, r)
		}
		return out, nil
	}
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	for _, rec := range recs[1:] {
		var r rows.Row
		for i, cell := range rec {
			name := recs[0][i]
			var v rows.Value
			switch name {
			case "seq":
				n, err := strconv.ParseInt(cell, 10, 64)
				if err != nil {
					return nil, err
				}
				v = rows.Int(n)
			case "value":
				f, err := strconv.ParseFloat(cell, 64)
				if err != nil {
					return nil, err
				}
				v = rows.Float(f)
			case "ok":
				b, err := strconv.ParseBool(cell)
				if err != nil {
					return nil, err
				}
				v = rows.Bool(b)
			default:
				v = rows.String(cell)
			}
			r = append(r, rows.Field{Name: name, Value: v})
		}
		out = append(out, r)
	}
	return out, nil
}

// csvSinkEnv refuses a row with a field the header lacks.
type csvSinkEnv struct{ fileSinkEnv }

func (e *csvSinkEnv) Poison() (rows.Row, string) {
	r := conformance.Row(99)
	r.Set("extra", rows.Int(1))
	return r, `field "extra" is not a column`
}

func TestFileSink(t *testing.T) {
	t.Run("jsonl", func(t *testing.T) {
		conformance.TestSink(t, conformance.Sink{Type: "sink.file", Start: func(t *testing.T) conformance.SinkEnv {
			return &fileSinkEnv{path: filepath.Join(t.TempDir(), "out.jsonl"), format: "jsonl"}
		}})
	})
	t.Run("csv", func(t *testing.T) {
		conformance.TestSink(t, conformance.Sink{Type: "sink.file", Start: func(t *testing.T) conformance.SinkEnv {
			return &csvSinkEnv{fileSinkEnv{path: filepath.Join(t.TempDir(), "out.csv"), format: "csv"}}
		}})
	})
}
