package core

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/nodes"
)

var fileSourceSpec = engine.Spec{
	ID:       "source.file",
	Category: "source",
	Summary:  "Reads rows from a JSON-lines or CSV file, optionally following it as it grows.",
	Docs: `Reads ` + "`path`" + ` line by line and emits its rows in batches of ` + "`batch_size`" + `.

- **jsonl**: one JSON object per line (the rows' JSON view); blank lines are skipped.
- **csv**: the first line is the header and names the fields. Values are typed by ` + "`columns`" + `
  (column → ` + "`auto`, `string`, `int`, `float`, `bool` or `timestamp`" + ` (RFC 3339)); ` + "`auto`" + `, the
  default, reads numbers as ints or floats, an empty cell as null and anything else as a string.
  Quoted fields may span lines.

` + "`format: auto`" + ` picks by extension (` + "`.csv`" + `; ` + "`.jsonl`, `.ndjson`, `.json`" + `).
A relative ` + "`path`" + ` resolves against the directory of the graph file being run (the runner and
` + "`atoll run`" + ` pass it), or the working directory when there is none.

A malformed line goes to ` + "`errors`" + ` as a row ` + "`{\"line\": 7, \"raw\": \"...\", \"_error\": \"file x.jsonl line 7: ...\", \"_node\": \"...\"}`" + `;
the run goes on. A line longer than ` + "`max_line_bytes`" + ` (1 MiB by default) goes to ` + "`errors`" + ` the same way,
with its line number and its first 4 KiB, without being held in memory. A CSV record whose quoted
field is never closed — still open after ` + "`max_line_bytes`" + ` or at the end of the file — sends its first
line (where the quote opened) to ` + "`errors`" + `, and the lines after it are read again as records, so the
source picks up at the next line that parses instead of swallowing the rest of the file.

With ` + "`follow`" + ` the source behaves like ` + "`tail -f`" + `: after the end of the file it polls every
` + "`poll_ms`" + ` for appended lines until the run is stopped, waits for a file that does not exist yet,
starts again from the top when the file is truncated and switches to the new file when the path is
rotated (after draining the old one). A last line without a newline is held until it is complete.

Metrics: ` + "`progress`" + ` (bytes read / file size, when not following) and ` + "`acked_offset`" + `, the
byte offset up to which every row has reached every sink (at-least-once). Under ` + "`atoll-runner --state`" + `
it is kept in the state directory, and a restarted runner (or a live update) continues from it.`,
	Headless: true,
	Outputs:  []engine.Port{{Name: "out", Type: "rows"}},
	Fields: []engine.Field{
		{Name: "path", Type: "string", Doc: "file to read (relative: to the graph file's directory)", Required: true, Path: true,
			Schema: map[string]any{"type": "string", "minLength": 1}},
		{Name: "format", Type: "string", Doc: "auto (by extension), jsonl or csv", Default: "auto", Enum: []any{"auto", "jsonl", "csv"}},
		{Name: "follow", Type: "boolean", Doc: "keep reading appended lines until stopped (tail -f)", Default: false},
		{Name: "batch_size", Type: "integer", Doc: "rows per batch", Default: 256, Min: engine.Num(1), Max: engine.Num(65536)},
		{Name: "columns", Type: "object", Doc: "csv: column → type (auto, string, int, float, bool, timestamp)", Default: map[string]any{},
			Schema: map[string]any{"type": "object", "additionalProperties": map[string]any{"enum": csvTypes}}},
		{Name: "delimiter", Type: "string", Doc: "csv field separator (one character)", Default: ",",
			Schema: map[string]any{"type": "string", "minLength": 1, "maxLength": 1}},
		{Name: "poll_ms", Type: "integer", Doc: "follow: how often to look for new data, in milliseconds", Default: 250, Min: engine.Num(10)},
		{Name: "max_line_bytes", Type: "integer", Doc: "longest line (and CSV record) kept; longer ones go to errors", Default: defaultMaxLineBytes,
			Min: engine.Num(16), Max: engine.Num(1 << 30)},
	},
	Examples: []engine.Example{
		{Name: "json lines", Config: json.RawMessage(`{"path":"data/events.jsonl"}`)},
		{Name: "typed csv", Config: json.RawMessage(`{"path":"data/sensors.csv","columns":{"id":"string","temp":"float","ok":"bool"}}`)},
		{Name: "tail a log", Config: json.RawMessage(`{"path":"/var/log/app/events.jsonl","follow":true,"batch_size":64}`)},
		{Name: "semicolons", Config: json.RawMessage(`{"path":"export.txt","format":"csv","delimiter":";"}`)},
	},
	Defaults: fileSourceDefaults(),
	New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
		cfg, err := engine.DecodeConfig(raw, fileSourceDefaults())
		if err != nil {
			return nil, err
		}
		cp, _ := bc.Services[CheckpointService].(Checkpoints)
		return &fileSource{cfg: cfg, path: resolvePath(bc, cfg.Path), node: bc.NodeID, cp: cp}, nil
	},
}

var csvTypes = []any{"auto", "string", "int", "float", "bool", "timestamp"}

type fileSourceConfig struct {
	Path      string            `json:"path"`
	Format    string            `json:"format"`
	Follow    bool              `json:"follow"`
	BatchSize int               `json:"batch_size"`
	Columns   map[string]string `json:"columns"`
	Delimiter string            `json:"delimiter"`
	PollMS    int               `json:"poll_ms"`
	// MaxLineBytes bounds the bytes held for one line or one CSV record.
	MaxLineBytes int `json:"max_line_bytes"`
}

// defaultMaxLineBytes is the default max_line_bytes: far above any row a person writes by
// hand, far below what would hurt an edge device.
const defaultMaxLineBytes = 1 << 20

// fileSourceDefaults returns fresh defaults (the map must not be shared between decodes).
func fileSourceDefaults() fileSourceConfig {
	return fileSourceConfig{Format: "auto", BatchSize: 256, Columns: map[string]string{}, Delimiter: ",", PollMS: 250, MaxLineBytes: defaultMaxLineBytes}
}

func init() { nodes.Register(fileSourceSpec) }

// BaseDirService is the BuildContext.Services key of the directory that relative file paths in
// node configs resolve against: the directory of the graph file being run. Without it they
// resolve against the working directory.
const BaseDirService = "base_dir"

// resolvePath makes a relative config path absolute against the graph's directory, if known.
func resolvePath(bc engine.BuildContext, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if dir, ok := bc.Services[BaseDirService].(string); ok && dir != "" {
		return filepath.Join(dir, p)
	}
	return p
}

// fileFormat returns jsonl or csv for a configured format ("auto": by the path's extension).
func fileFormat(path, format string) (string, error) {
	switch format {
	case "jsonl", "csv":
		return format, nil
	case "auto", "":
		switch strings.ToLower(filepath.Ext(path)) {
		case ".csv":
			return "csv", nil
		case ".jsonl", ".ndjson", ".json":
			return "jsonl", nil
		}
		return "", fmt.Errorf("config: format auto: cannot tell the format of %q from its extension (set format to jsonl or csv)", path)
	}
	return "", fmt.Errorf("config: format %q is not auto, jsonl or csv", format)
}

type fileSource struct {
	cfg    fileSourceConfig
	path   string // resolved
	format string
	acks   offsetAcks
	node   string      // node id: the checkpoint's key
	cp     Checkpoints // nil: positions are not kept
}

func (s *fileSource) Validate() error {
	f, err := fileFormat(s.cfg.Path, s.cfg.Format)
	if err != nil {
		return err
	}
	s.format = f
	if s.cfg.BatchSize < 1 {
		return errors.New("config: batch_size must be >= 1")
	}
	if len(s.cfg.Delimiter) != 1 || s.cfg.Delimiter == "\"" || s.cfg.Delimiter == "\n" || s.cfg.Delimiter == "\r" {
		return fmt.Errorf("config: delimiter %q must be one character other than a quote or a newline", s.cfg.Delimiter)
	}
	if len(s.cfg.Columns) > 0 && f != "csv" {
		return errors.New("config: columns applies to csv files only")
	}
	for name, typ := range s.cfg.Columns {
		if _, err := csvValue(name, "", typ); err != nil && strings.Contains(err.Error(), "unknown type") {
			return fmt.Errorf("config: columns.%s: %w", name, err)
		}
	}
	if s.cfg.PollMS < 1 {
		s.cfg.PollMS = 250
	}
	if s.cfg.MaxLineBytes < 16 || s.cfg.MaxLineBytes > 1<<30 {
		return fmt.Errorf("config: max_line_bytes %d is not between 16 and %d", s.cfg.MaxLineBytes, 1<<30)
	}
	return nil
}

// AckedOffset returns the byte offset up to which every emitted row has been acknowledged.
func (s *fileSource) AckedOffset() int64 { return s.acks.offset() }

func (s *fileSource) Run(ctx context.Context, out engine.Output) error {
	if s.format == "" {
		if err := s.Validate(); err != nil {
			return err
		}
	}
	r := &fileReader{src: s, out: out, poll: time.Duration(s.cfg.PollMS) * time.Millisecond}
	s.acks.gauge = func(v int64) {
		out.Gauge("acked_offset", float64(v))
		s.saveOffset(v)
	}
	return r.run(ctx)
}

// fileReader is the state of one Run: the open file, the position and the batch being filled.
type fileReader struct {
	src  *fileSource
	out  engine.Output
	poll time.Duration

	f       *os.File
	info    os.FileInfo
	br      *bufio.Reader
	off     int64  // offset just past the last complete line
	partial []byte // bytes of a line not yet ended by a newline
	long    int64  // > 0: bytes of a line over max_line_bytes so far (partial keeps its start)
	line    int    // physical lines consumed

	header    []string
	types     []string
	rec       []byte     // csv record spanning lines (an open quoted field)
	recLines  []lineSpan // the lines of rec
	replay    []heldLine // lines of a broken record, to be read again
	batch     []rows.Row
	waitedLog bool
}

// lineSpan is one physical line of an open CSV record.
type lineSpan struct {
	no    int   // line number
	off   int64 // byte offset of the line in the file
	start int   // index of the line in rec
}

// heldLine is a line kept to be read again after a broken record.
type heldLine struct {
	text []byte
	no   int
	off  int64
}

func (r *fileReader) run(ctx context.Context) error {
	defer func() {
		if r.f != nil {
			r.f.Close()
		}
	}()
	if err := r.open(ctx); err != nil || r.f == nil {
		return err
	}
	if err := r.resume(); err != nil {
		return err
	}
	rotated := false
	for {
		chunk, err := r.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			r.hold(chunk)
			continue
		}
		if err == nil {
			if r.long > 0 || len(r.partial)+len(chunk)-1 > r.src.cfg.MaxLineBytes {
				r.hold(chunk)
				r.longLine(true)
			} else {
				line := chunk
				if len(r.partial) > 0 {
					line = append(r.partial, chunk...)
				}
				n := int64(len(line))
				r.handleLine(line[:len(line)-1])
				r.off += n
				r.partial = r.partial[:0]
			}
			if len(r.batch) >= r.src.cfg.BatchSize {
				if !r.flush() {
					return nil
				}
				if ctx.Err() != nil {
					return nil
				}
			}
			continue
		}
		if err != io.EOF {
			r.flush()
			return fmt.Errorf("file %s: read at byte %d: %w", r.src.cfg.Path, r.off, err)
		}
		r.hold(chunk)
		if !r.src.cfg.Follow {
			switch {
			case r.long > 0:
				r.longLine(false)
			case len(r.partial) > 0:
				r.handleLine(r.partial)
				r.off += int64(len(r.partial))
				r.partial = r.partial[:0]
			}
			for len(r.recLines) > 0 {
				r.breakRecord(nil, errors.New("unterminated quoted field at the end of the file"))
				r.drainReplay()
			}
			r.flush()
			r.out.Gauge("progress", 1)
			return nil
		}
		// Following: hand over what we have, then look for truncation, rotation or more data.
		if !r.flush() {
			return nil
		}
		switch r.check() {
		case "truncated":
			r.out.Log("info", fmt.Sprintf("file %s was truncated: reading from the start", r.src.cfg.Path))
			if _, err := r.f.Seek(0, io.SeekStart); err != nil {
				return fmt.Errorf("file %s: seek: %w", r.src.cfg.Path, err)
			}
			r.reset()
			r.br.Reset(r.f)
			continue
		case "rotated":
			if !rotated { // read the old file once more: its writer may have added a last line
				rotated = true
				continue
			}
			r.out.Log("info", fmt.Sprintf("file %s was rotated: reading the new file", r.src.cfg.Path))
			r.f.Close()
			r.f = nil
			r.reset()
			if err := r.open(ctx); err != nil || r.f == nil {
				return err
			}
			rotated = false
			continue
		}
		if !sleep(ctx, r.poll) {
			return nil
		}
	}
}

// open opens the file; when following it waits for the file to appear. r.f stays nil when ctx
// ended first.
func (r *fileReader) open(ctx context.Context) error {
	for {
		f, err := os.Open(r.src.path)
		if err == nil {
			info, err := f.Stat()
			if err != nil {
				f.Close()
				return fmt.Errorf("file %s: %w", r.src.cfg.Path, err)
			}
			if info.IsDir() {
				f.Close()
				return fmt.Errorf("file %s: is a directory", r.src.cfg.Path)
			}
			r.f, r.info = f, info
			if r.br == nil {
				r.br = bufio.NewReaderSize(f, 64<<10)
			} else {
				r.br.Reset(f)
			}
			return nil
		}
		if !r.src.cfg.Follow || !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("file %s: %w", r.src.cfg.Path, err)
		}
		if !r.waitedLog {
			r.waitedLog = true
			r.out.Log("info", fmt.Sprintf("file %s does not exist yet: waiting for it", r.src.cfg.Path))
		}
		if !sleep(ctx, r.poll) {
			return nil
		}
	}
}

// resume moves past what a previous run acknowledged (see checkpoint.go). A CSV file's header is
// read first; line numbers in error rows then count from the resume point.
func (r *fileReader) resume() error {
	off := r.src.resumeOffset(r.info.Size())
	if off == 0 {
		return nil
	}
	if r.src.format == "csv" {
		for r.header == nil {
			line, err := r.br.ReadSlice('\n')
			if err != nil && err != io.EOF {
				return fmt.Errorf("file %s: read the header: %w", r.src.cfg.Path, err)
			}
			r.handleLine(bytes.TrimSuffix(line, []byte("\n")))
			if err == io.EOF {
				break
			}
		}
	}
	if _, err := r.f.Seek(off, io.SeekStart); err != nil {
		return fmt.Errorf("file %s: seek to the checkpoint at byte %d: %w", r.src.cfg.Path, off, err)
	}
	r.br.Reset(r.f)
	r.off = off
	r.src.acks.resume(off)
	r.out.Log("info", fmt.Sprintf("file %s: resuming at byte %d (checkpoint)", r.src.cfg.Path, off))
	return nil
}

// sleep waits for d and reports false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// check compares the open file with what the path names now.
func (r *fileReader) check() string {
	if cur, err := r.f.Stat(); err == nil && cur.Size() < r.off+max(int64(len(r.partial)), r.long) {
		return "truncated"
	}
	now, err := os.Stat(r.src.path)
	if err != nil {
		return "" // moved away and not recreated yet: keep the old one
	}
	if !os.SameFile(now, r.info) {
		return "rotated"
	}
	return ""
}

// reset forgets the position: the next bytes read are the start of a file.
func (r *fileReader) reset() {
	r.off, r.line, r.long = 0, 0, 0
	r.partial, r.rec, r.recLines, r.replay = r.partial[:0], r.rec[:0], r.recLines[:0], nil
	r.header, r.types = nil, nil
}

// flush emits the rows gathered so far. It reports false when the run was cancelled.
func (r *fileReader) flush() bool {
	if !r.src.cfg.Follow && r.info != nil && r.info.Size() > 0 {
		r.out.Gauge("progress", min(1, float64(r.off)/float64(r.info.Size())))
	}
	if len(r.batch) == 0 {
		return true
	}
	b := &rows.Batch{Rows: r.batch}
	r.batch = make([]rows.Row, 0, r.src.cfg.BatchSize)
	end := r.off
	if len(r.recLines) > 0 { // resuming from the acked offset must not start inside a record
		end = r.recLines[0].off
	}
	seq := r.src.acks.add(end)
	return r.out.EmitAcked("out", b, func() { r.src.acks.ack(seq) }) == nil
}

// hold keeps the bytes of a line that has not ended yet. Past max_line_bytes it keeps only the
// first maxRaw bytes (for the error row) and counts the rest.
func (r *fileReader) hold(chunk []byte) {
	if r.long > 0 {
		r.long += int64(len(chunk))
		return
	}
	if len(r.partial)+len(chunk) <= r.src.cfg.MaxLineBytes {
		r.partial = append(r.partial, chunk...)
		return
	}
	r.long = int64(len(r.partial) + len(chunk))
	if len(r.partial) < maxRaw {
		r.partial = append(r.partial, chunk[:min(len(chunk), maxRaw-len(r.partial))]...)
	}
	r.partial = r.partial[:min(len(r.partial), maxRaw)]
	if cap(r.partial) > 4*maxRaw { // let go of a large buffer
		r.partial = append([]byte(nil), r.partial...)
	}
}

// longLine ends a line over max_line_bytes (held by hold): it goes to errors with its number.
// ended says whether it ended with a newline (rather than at the end of the file).
func (r *fileReader) longLine(ended bool) {
	r.line++
	// An open quoted field cannot go on through a line that is not kept.
	for len(r.recLines) > 0 {
		r.breakRecord(nil, fmt.Errorf("quoted field still open at line %d, which is longer than max_line_bytes", r.line))
		r.drainReplay()
	}
	size := r.long
	if ended {
		size--
	}
	raw := bytes.TrimSuffix(r.partial, []byte("\n"))
	r.reject(r.line, string(raw), fmt.Errorf("line of %d bytes is longer than max_line_bytes (%d)", size, r.src.cfg.MaxLineBytes))
	r.off += r.long
	r.long = 0
	r.partial = r.partial[:0]
}

func (r *fileReader) handleLine(line []byte) {
	r.line++
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if r.line == 1 {
		line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
	}
	if r.src.format == "jsonl" {
		if len(bytes.TrimSpace(line)) == 0 {
			return
		}
		row, err := rows.ParseJSON(line)
		if err != nil {
			r.reject(r.line, string(line), err)
			return
		}
		r.batch = append(r.batch, row)
		return
	}
	r.csvLine(line, r.line, r.off)
	r.drainReplay()
}

// drainReplay reads again the lines of broken records.
func (r *fileReader) drainReplay() {
	for len(r.replay) > 0 {
		l := r.replay[0]
		r.replay = r.replay[1:]
		r.csvLine(l.text, l.no, l.off)
	}
}

// csvLine adds one physical line to the CSV record being read and handles the record once it is
// complete.
func (r *fileReader) csvLine(line []byte, no int, off int64) {
	if len(r.recLines) > 0 {
		if len(r.rec)+1+len(line) > r.src.cfg.MaxLineBytes {
			r.breakRecord(&heldLine{text: bytes.Clone(line), no: no, off: off},
				fmt.Errorf("quoted field still open after max_line_bytes (%d)", r.src.cfg.MaxLineBytes))
			return
		}
		r.recLines = append(r.recLines, lineSpan{no: no, off: off, start: len(r.rec) + 1})
		r.rec = append(append(r.rec, '\n'), line...)
	} else {
		if len(line) == 0 {
			return
		}
		r.rec = append(r.rec[:0], line...)
		r.recLines = append(r.recLines[:0], lineSpan{no: no, off: off})
	}
	fields, err := splitCSV(string(r.rec), r.src.cfg.Delimiter[0])
	if err == errUnterminated {
		return // the quoted field goes on on the next line
	}
	rec, recLine := string(r.rec), r.recLines[0].no
	r.rec, r.recLines = r.rec[:0], r.recLines[:0]
	if err != nil {
		r.reject(recLine, rec, err)
		return
	}
	if r.header == nil {
		r.setHeader(fields, rec, recLine)
		return
	}
	if len(fields) != len(r.header) {
		r.reject(recLine, rec, fmt.Errorf("%d fields, the header has %d", len(fields), len(r.header)))
		return
	}
	row := make(rows.Row, len(fields), len(fields)+2)
	for i, s := range fields {
		v, err := csvValue(r.header[i], s, r.types[i])
		if err != nil {
			r.reject(recLine, rec, err)
			return
		}
		row[i] = rows.Field{Name: r.header[i], Value: v}
	}
	r.batch = append(r.batch, row)
}

// breakRecord gives up on the open CSV record: its first line, where the quote opened, goes to
// errors, and the lines after it (then next, if not nil) are queued to be read again as new
// records. Each call sends one line to errors, so reading again always ends.
func (r *fileReader) breakRecord(next *heldLine, reason error) {
	first := r.recLines[0]
	end := len(r.rec)
	if len(r.recLines) > 1 {
		end = r.recLines[1].start - 1
	}
	r.reject(first.no, string(r.rec[:end]), reason)
	var again []heldLine
	for i, l := range r.recLines[1:] {
		stop := len(r.rec)
		if i+2 < len(r.recLines) {
			stop = r.recLines[i+2].start - 1
		}
		again = append(again, heldLine{text: bytes.Clone(r.rec[l.start:stop]), no: l.no, off: l.off})
	}
	if next != nil {
		again = append(again, *next)
	}
	r.rec, r.recLines = r.rec[:0], r.recLines[:0]
	r.replay = append(again, r.replay...)
	if len(r.rec) == 0 && cap(r.rec) > 4*maxRaw {
		r.rec = nil // let go of a large record buffer
	}
}

func (r *fileReader) setHeader(fields []string, rec string, recLine int) {
	seen := map[string]bool{}
	header := make([]string, len(fields))
	for i, name := range fields {
		name = strings.TrimSpace(name)
		if name == "" {
			name = "column_" + strconv.Itoa(i+1)
		}
		for seen[name] { // duplicate names get a suffix: a row's names are unique
			name += "_" + strconv.Itoa(i+1)
		}
		seen[name] = true
		header[i] = name
	}
	var unknown []string
	for name := range r.src.cfg.Columns {
		if !seen[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		r.out.Log("warn", fmt.Sprintf("file %s line %d: columns %s are not in the header %q", r.src.cfg.Path, recLine, strings.Join(unknown, ", "), rec))
	}
	r.header = header
	r.types = make([]string, len(header))
	for i, name := range header {
		r.types[i] = r.src.cfg.Columns[name]
	}
}

// maxRaw bounds the raw text kept in an error row.
const maxRaw = 4096

func (r *fileReader) reject(line int, raw string, err error) {
	if len(raw) > maxRaw {
		raw = raw[:maxRaw] + "…"
	}
	// A source's rejects go out at once (they belong to no batch).
	r.out.Reject(rows.Row{
		{Name: "line", Value: rows.Int(int64(line))},
		{Name: "raw", Value: rows.String(raw)},
	}, fmt.Errorf("file %s line %d: %w", r.src.cfg.Path, line, err))
}

var errUnterminated = errors.New("unterminated quoted field")

// splitCSV splits one CSV record (RFC 4180: quoted fields with doubled quotes may hold the
// delimiter and newlines). It returns errUnterminated when a quoted field is still open.
func splitCSV(rec string, delim byte) ([]string, error) {
	var fields []string
	i := 0
	for {
		if i < len(rec) && rec[i] == '"' {
			var b strings.Builder
			i++
			for {
				j := strings.IndexByte(rec[i:], '"')
				if j < 0 {
					return nil, errUnterminated
				}
				b.WriteString(rec[i : i+j])
				i += j + 1
				if i < len(rec) && rec[i] == '"' {
					b.WriteByte('"')
					i++
					continue
				}
				break
			}
			fields = append(fields, b.String())
			if i == len(rec) {
				return fields, nil
			}
			if rec[i] != delim {
				return nil, fmt.Errorf("field %d: %q after a quoted field", len(fields), rec[i])
			}
			i++
			continue
		}
		j := strings.IndexByte(rec[i:], delim)
		f := rec[i:]
		if j >= 0 {
			f = rec[i : i+j]
		}
		if strings.IndexByte(f, '"') >= 0 {
			return nil, fmt.Errorf("field %d: bare \" in an unquoted field", len(fields)+1)
		}
		fields = append(fields, f)
		if j < 0 {
			return fields, nil
		}
		i += j + 1
	}
}

// csvValue types one CSV cell. An empty cell is null except for type string.
func csvValue(column, s, typ string) (rows.Value, error) {
	if s == "" && typ != "string" {
		switch typ {
		case "", "auto", "int", "float", "bool", "timestamp":
			return rows.Null(), nil
		}
	}
	switch typ {
	case "", "auto":
		if looksNumeric(s) {
			if v, err := rows.NumberValue(s); err == nil {
				return v, nil
			}
		}
		return rows.String(s), nil
	case "string":
		return rows.String(s), nil
	case "int":
		i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return rows.Value{}, fmt.Errorf("column %q: %q is not an int", column, s)
		}
		return rows.Int(i), nil
	case "float":
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return rows.Value{}, fmt.Errorf("column %q: %q is not a float", column, s)
		}
		return rows.Float(f), nil
	case "bool":
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return rows.Value{}, fmt.Errorf("column %q: %q is not a bool", column, s)
		}
		return rows.Bool(b), nil
	case "timestamp":
		t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
		if err != nil {
			return rows.Value{}, fmt.Errorf("column %q: %q is not an RFC 3339 timestamp", column, s)
		}
		return rows.Timestamp(t), nil
	}
	return rows.Value{}, fmt.Errorf("unknown type %q (valid: auto, string, int, float, bool, timestamp)", typ)
}

// looksNumeric keeps words such as "nan" or "inf" strings in auto columns.
func looksNumeric(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
		default:
			return false
		}
	}
	return s[0] != 'e' && s[0] != 'E'
}

// offsetAcks turns out-of-order batch acknowledgements into the offset below which every batch
// has been acknowledged.
type offsetAcks struct {
	mu    sync.Mutex
	base  uint64  // sequence number of ends[0]
	ends  []int64 // end offset of each pending batch
	done  []bool
	acked int64
	gauge func(int64)
}

func (a *offsetAcks) add(end int64) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ends = append(a.ends, end)
	a.done = append(a.done, false)
	return a.base + uint64(len(a.ends)-1)
}

func (a *offsetAcks) ack(seq uint64) {
	a.mu.Lock()
	i := int(seq - a.base)
	if i < 0 || i >= len(a.done) {
		a.mu.Unlock()
		return
	}
	a.done[i] = true
	moved := false
	for len(a.done) > 0 && a.done[0] {
		a.acked = a.ends[0]
		a.ends, a.done = a.ends[1:], a.done[1:]
		a.base++
		moved = true
	}
	v, g := a.acked, a.gauge
	a.mu.Unlock()
	if moved && g != nil {
		g(v)
	}
}

// resume starts the acknowledged offset at off (a checkpoint) before any batch.
func (a *offsetAcks) resume(off int64) {
	a.mu.Lock()
	a.acked = off
	a.mu.Unlock()
}

func (a *offsetAcks) offset() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.acked
}

var (
	_ engine.Source    = (*fileSource)(nil)
	_ engine.Validator = (*fileSource)(nil)
)
