package core

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/nodes"
)

var fileSinkSpec = engine.Spec{
	ID:       "sink.file",
	Category: "sink",
	Summary:  "Writes rows to a JSON-lines or CSV file.",
	Docs: `Writes every row it receives to ` + "`path`" + `, creating the file and its directory.

- **jsonl**: one line per row, the row's JSON view.
- **csv**: the first row's fields make the header. Later rows are written by header: a missing
  field is an empty cell; a row with a field the header lacks goes to ` + "`errors`" + `, naming the field.
  Null is an empty cell, floats keep a ` + "`.0`" + ` so they read back as floats, timestamps are RFC 3339,
  bytes base64, lists JSON arrays. Appending to a non-empty CSV file reuses its header.

` + "`format: auto`" + ` picks by extension (` + "`.csv`" + `; ` + "`.jsonl`, `.ndjson`, `.json`" + `).
` + "`mode`" + ` is ` + "`append`" + ` (the default: nothing is lost) or ` + "`truncate`" + ` (start empty when the
run opens the file). Each batch is flushed to the operating system when written; the file is
fsynced when the run ends. A relative ` + "`path`" + ` resolves against the directory of the graph file.`,
	Headless: true,
	Inputs:   []engine.Port{{Name: "in", Type: "any", Required: true}},
	Fields: []engine.Field{
		{Name: "path", Type: "string", Doc: "file to write (relative: to the graph file's directory)", Required: true, Path: true,
			Schema: map[string]any{"type": "string", "minLength": 1}},
		{Name: "format", Type: "string", Doc: "auto (by extension), jsonl or csv", Default: "auto", Enum: []any{"auto", "jsonl", "csv"}},
		{Name: "mode", Type: "string", Doc: "append to the file or truncate it first", Default: "append", Enum: []any{"append", "truncate"}},
		{Name: "delimiter", Type: "string", Doc: "csv field separator (one character)", Default: ",",
			Schema: map[string]any{"type": "string", "minLength": 1, "maxLength": 1}},
	},
	Examples: []engine.Example{
		{Name: "json lines", Config: json.RawMessage(`{"path":"out/rows.jsonl"}`)},
		{Name: "fresh csv each run", Config: json.RawMessage(`{"path":"out/readings.csv","mode":"truncate"}`)},
		{Name: "tab separated", Config: json.RawMessage(`{"path":"out/readings.tsv","format":"csv","delimiter":"\t"}`)},
	},
	Defaults: fileSinkDefaults,
	New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
		cfg, err := engine.DecodeConfig(raw, fileSinkDefaults)
		if err != nil {
			return nil, err
		}
		return &fileSink{cfg: cfg, path: resolvePath(bc, cfg.Path)}, nil
	},
}

type fileSinkConfig struct {
	Path      string `json:"path"`
	Format    string `json:"format"`
	Mode      string `json:"mode"`
	Delimiter string `json:"delimiter"`
}

var fileSinkDefaults = fileSinkConfig{Format: "auto", Mode: "append", Delimiter: ","}

func init() { nodes.Register(fileSinkSpec) }

type fileSink struct {
	cfg    fileSinkConfig
	path   string // resolved
	format string

	f      *os.File
	jw     *bufio.Writer
	cw     *csv.Writer
	header []string
	index  map[string]int
	cells  []string
	buf    []byte
}

func (s *fileSink) Validate() error {
	f, err := fileFormat(s.cfg.Path, s.cfg.Format)
	if err != nil {
		return err
	}
	s.format = f
	switch s.cfg.Mode {
	case "append", "truncate":
	default:
		return fmt.Errorf("config: mode %q is not append or truncate", s.cfg.Mode)
	}
	if d := s.cfg.Delimiter; len(d) != 1 || d == "\"" || d == "\n" || d == "\r" {
		return fmt.Errorf("config: delimiter %q must be one character other than a quote or a newline", d)
	}
	return nil
}

// open creates or opens the file on the first batch (or at the end of a run without rows), so
// that validating a graph never touches the file system.
func (s *fileSink) open() error {
	if s.f != nil {
		return nil
	}
	if s.format == "" {
		if err := s.Validate(); err != nil {
			return err
		}
	}
	if dir := filepath.Dir(s.path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("file %s: %w", s.cfg.Path, err)
		}
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if s.cfg.Mode == "truncate" {
		flags = os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	}
	f, err := os.OpenFile(s.path, flags, 0o644)
	if err != nil {
		return fmt.Errorf("file %s: %w", s.cfg.Path, err)
	}
	s.f = f
	if s.format == "jsonl" {
		s.jw = bufio.NewWriterSize(f, 64<<10)
		return nil
	}
	s.cw = csv.NewWriter(f)
	s.cw.Comma = rune(s.cfg.Delimiter[0])
	if s.cfg.Mode == "append" {
		h, err := existingHeader(s.path, s.cfg.Delimiter[0])
		if err != nil {
			return fmt.Errorf("file %s: reading the existing header: %w", s.cfg.Path, err)
		}
		if h != nil {
			s.setHeader(h)
		}
	}
	return nil
}

// existingHeader returns the header line of a non-empty CSV file, or nil.
func existingHeader(path string, delim byte) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && err != io.EOF {
		return nil, err
	}
	line = strings.TrimRight(strings.TrimPrefix(line, "\xef\xbb\xbf"), "\r\n")
	if line == "" {
		return nil, nil
	}
	return splitCSV(line, delim)
}

func (s *fileSink) setHeader(h []string) {
	s.header = h
	s.index = make(map[string]int, len(h))
	for i, name := range h {
		s.index[name] = i
	}
	s.cells = make([]string, len(h))
}

func (s *fileSink) Process(ctx context.Context, port string, b *rows.Batch, out engine.Output) error {
	if err := s.open(); err != nil {
		return err
	}
	if s.jw != nil {
		for _, r := range b.Rows {
			s.buf = append(r.AppendJSON(s.buf[:0]), '\n')
			if _, err := s.jw.Write(s.buf); err != nil {
				return fmt.Errorf("file %s: %w", s.cfg.Path, err)
			}
		}
		if err := s.jw.Flush(); err != nil {
			return fmt.Errorf("file %s: %w", s.cfg.Path, err)
		}
		return nil
	}
	for _, r := range b.Rows {
		if s.header == nil {
			h := make([]string, len(r))
			for i, f := range r {
				h[i] = f.Name
			}
			s.setHeader(h)
			if err := s.cw.Write(h); err != nil {
				return fmt.Errorf("file %s: %w", s.cfg.Path, err)
			}
		}
		clear(s.cells)
		extra := ""
		for _, f := range r {
			i, ok := s.index[f.Name]
			if !ok {
				extra = f.Name
				break
			}
			s.cells[i] = s.cellText(f.Value)
		}
		if extra != "" {
			out.Reject(r, fmt.Errorf("file %s: field %q is not a column of the csv header (%s)", s.cfg.Path, extra, strings.Join(s.header, ",")))
			continue
		}
		if err := s.cw.Write(s.cells); err != nil {
			return fmt.Errorf("file %s: %w", s.cfg.Path, err)
		}
	}
	s.cw.Flush()
	if err := s.cw.Error(); err != nil {
		return fmt.Errorf("file %s: %w", s.cfg.Path, err)
	}
	return nil
}

// cellText formats a value for a CSV cell.
func (s *fileSink) cellText(v rows.Value) string {
	switch v.Kind() {
	case rows.KindNull:
		return ""
	case rows.KindString:
		str, _ := v.AsString()
		return str
	case rows.KindBytes:
		b, _ := v.AsBytes()
		return base64.StdEncoding.EncodeToString(b)
	case rows.KindTimestamp:
		ns, _ := v.AsTimestamp()
		return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
	}
	s.buf = v.AppendJSON(s.buf[:0])
	if len(s.buf) > 1 && s.buf[0] == '"' { // NaN, +Inf, -Inf
		return string(s.buf[1 : len(s.buf)-1])
	}
	return string(s.buf)
}

// Flush runs once the input has ended: it creates the file when the run had no rows (a run
// always leaves its output) and fsyncs it, so a failure to persist shows in the node log.
func (s *fileSink) Flush(ctx context.Context, out engine.Output) error {
	if err := s.open(); err != nil {
		return err
	}
	return s.sync()
}

func (s *fileSink) sync() error {
	var errs []error
	if s.jw != nil {
		errs = append(errs, s.jw.Flush())
	}
	if s.cw != nil {
		s.cw.Flush()
		errs = append(errs, s.cw.Error())
	}
	errs = append(errs, s.f.Sync())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("file %s: %w", s.cfg.Path, err)
	}
	return nil
}

// Close flushes, fsyncs and closes the file (also after a cancelled run, which skips Flush).
func (s *fileSink) Close() error {
	if s.f == nil {
		return nil
	}
	err := errors.Join(s.sync(), s.f.Close())
	s.f = nil
	return err
}

var (
	_ engine.Processor = (*fileSink)(nil)
	_ engine.Flusher   = (*fileSink)(nil)
	_ engine.Validator = (*fileSink)(nil)
	_ io.Closer        = (*fileSink)(nil)
)
