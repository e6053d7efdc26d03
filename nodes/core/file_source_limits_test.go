//go:build unix

package core

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
)

func errorTexts(rs []rows.Row) []string {
	var out []string
	for _, e := range rs {
		reason, _ := e.Get(engine.ErrorField)
		s, _ := reason.AsString()
		out = append(out, s)
	}
	return out
}

// One 300 MB line between two good ones goes to errors with its line number, and the source
// holds a bounded part of it (it used to hold the whole line: 2 GB of RSS). The file is a FIFO
// written while the source reads it, so the test needs no 300 MB on disk.
func TestFileSourceLongLineBoundedMemory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "big.jsonl")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	const lineBytes = 300 << 20
	werr := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			werr <- err
			return
		}
		defer f.Close()
		w := bufio.NewWriterSize(f, 1<<20)
		w.WriteString(`{"n":1}` + "\n" + `{"s":"`)
		chunk := bytes.Repeat([]byte("x"), 1<<20)
		for n := 6; n < lineBytes-2; n += len(chunk) {
			w.Write(chunk[:min(len(chunk), lineBytes-2-n)])
		}
		w.WriteString(`"}` + "\n" + `{"n":3}` + "\n")
		werr <- w.Flush()
	}()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c := newFileCaptures()
	r := startGraph(t, sourceGraph(t, `{"path":"big.jsonl"}`), c.cat, dir)
	if err := r.Wait(); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if err := <-werr; err != nil {
		t.Fatalf("writing the FIFO: %v", err)
	}
	if got := jsonRows(c.rows.Rows()); got != "{\"n\":1}\n{\"n\":3}\n" {
		t.Errorf("rows:\n%s", got)
	}
	errs := errorTexts(c.errs.Rows())
	want := fmt.Sprintf("file big.jsonl line 2: line of %d bytes is longer than max_line_bytes (1048576)", lineBytes)
	if len(errs) != 1 || errs[0] != want {
		t.Errorf("errors %q, want [%q]", errs, want)
	}
	if line, _ := c.errs.Rows()[0].Get("line"); !line.Equal(rows.Int(2)) {
		t.Errorf("error row line = %v", line)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
		t.Errorf("reading a %d MiB line allocated %d MiB (want < 32)", lineBytes>>20, alloc>>20)
	}
}

// An unterminated CSV quote sends its line to errors and the source picks up at the next line
// that parses, both at the end of the file and when the open record passes max_line_bytes (it
// used to swallow the rest of the file into one error row).
func TestFileSourceCSVBrokenQuoteResyncs(t *testing.T) {
	var good strings.Builder
	var want strings.Builder
	for i := 3; i < 40; i++ {
		fmt.Fprintf(&good, "%d,row %d\n", i, i)
		fmt.Fprintf(&want, "{\"id\":%d,\"name\":\"row %d\"}\n", i, i)
	}
	for _, tc := range []struct {
		name, cfg, content, wantRows string
		wantErrs                     []string
	}{
		{"end of file", `{"path":"in.csv"}`, "id,name\n1,\"open\n" + good.String(),
			want.String(),
			[]string{"file in.csv line 2: unterminated quoted field at the end of the file"}},
		{"max_line_bytes", `{"path":"in.csv","max_line_bytes":64}`, "id,name\n1,\"open\n" + good.String(), want.String(),
			[]string{"file in.csv line 2: quoted field still open after max_line_bytes (64)"}},
		{"two broken quotes", `{"path":"in.csv","max_line_bytes":64}`, "id,name\n1,\"open\n" + good.String() + "40,\"again\n41,fine\n",
			want.String() + "{\"id\":41,\"name\":\"fine\"}\n",
			[]string{"file in.csv line 2: quoted field still open after max_line_bytes (64)", "file in.csv line 40: unterminated quoted field at the end of the file"}},
		{"long line in an open record", `{"path":"in.csv","max_line_bytes":64}`, "id,name\n1,\"open\n3,row 3\n" + strings.Repeat("y", 100) + "\n4,row 4\n",
			"{\"id\":3,\"name\":\"row 3\"}\n{\"id\":4,\"name\":\"row 4\"}\n",
			[]string{"file in.csv line 2: quoted field still open at line 4, which is longer than max_line_bytes", "file in.csv line 4: line of 100 bytes is longer than max_line_bytes (64)"}},
		{"multi-line field kept", `{"path":"in.csv","max_line_bytes":64}`, "id,name\n1,\"two\nlines\"\n2,x\n",
			"{\"id\":1,\"name\":\"two\\nlines\"}\n{\"id\":2,\"name\":\"x\"}\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "in.csv"), tc.content)
			c := newFileCaptures()
			r := startGraph(t, sourceGraph(t, tc.cfg), c.cat, dir)
			if err := r.Wait(); err != nil {
				t.Fatal(err)
			}
			if got := jsonRows(c.rows.Rows()); got != tc.wantRows {
				t.Errorf("rows:\n%s\nwant:\n%s", got, tc.wantRows)
			}
			if got := errorTexts(c.errs.Rows()); strings.Join(got, "\n") != strings.Join(tc.wantErrs, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.wantErrs, "\n"))
			}
		})
	}
}

// lineOutput collects what a file source emits, for the fuzz target.
type lineOutput struct {
	rows    []rows.Row
	rejects []rows.Row
}

func (o *lineOutput) Emit(_ string, b *rows.Batch) error {
	o.rows = append(o.rows, b.Rows...)
	return nil
}
func (o *lineOutput) EmitAcked(port string, b *rows.Batch, ack func()) error {
	defer ack()
	return o.Emit(port, b)
}
func (o *lineOutput) Reject(r rows.Row, err error) {
	r = r.Clone()
	r.Set(engine.ErrorField, rows.String(err.Error()))
	o.rejects = append(o.rejects, r)
}
func (o *lineOutput) Log(string, string)    {}
func (o *lineOutput) Gauge(string, float64) {}

// expectJSONL is an independent reading of a JSON-lines file: the rows and rejects it must give.
func expectJSONL(data []byte, maxLine int) (nrows, nrejects int) {
	lines := bytes.Split(data, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	for i, l := range lines {
		if len(l) > maxLine {
			nrejects++
			continue
		}
		l = bytes.TrimSuffix(l, []byte("\r"))
		if i == 0 {
			l = bytes.TrimPrefix(l, []byte("\xef\xbb\xbf"))
		}
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		if _, err := rows.ParseJSON(l); err != nil {
			nrejects++
		} else {
			nrows++
		}
	}
	return nrows, nrejects
}

// FuzzFileLineReader reads arbitrary bytes as a CSV or JSON-lines file with a small
// max_line_bytes. JSON lines are checked against an independent reading; for both formats,
// rejects come in line order with a line number in the file, raw text is bounded, rows have the
// header's width, and the reader holds at most max_line_bytes of a line or record.
func FuzzFileLineReader(f *testing.F) {
	f.Add([]byte("a,b\n1,2\n3,\"x\ny\"\n"), true, uint16(64))
	f.Add([]byte("a,b\n1,\"open\n2,x\n3,y\n"), true, uint16(16))
	f.Add([]byte("\xef\xbb\xbfa;b\r\n\"q\"\"\";2\r\n"), true, uint16(100))
	f.Add([]byte("{\"a\":1}\n\n{\"b\":[1,2]}\r\n{bad\n"+strings.Repeat("z", 80)+"\n{\"c\":\"x\"}"), false, uint16(32))
	f.Add([]byte("{\"a\":\"\\u00e9\"}\n   \n{\"a\":1}{\"a\":2}\n"), false, uint16(16))
	dir := f.TempDir() // one per fuzzing process: a directory per input would dominate the time
	f.Fuzz(func(t *testing.T, data []byte, csv bool, maxLine uint16) {
		format, delim := "jsonl", ","
		if csv {
			format = "csv"
			if len(data) > 0 && data[0] == ';' {
				delim = ";"
			}
		}
		max := 16 + int(maxLine)%512
		path := filepath.Join(dir, "in")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s := &fileSource{cfg: fileSourceConfig{Path: "in", Format: format, BatchSize: 7, Delimiter: delim, PollMS: 10, MaxLineBytes: max}, path: path}
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		out := &lineOutput{}
		r := &fileReader{src: s, out: out}
		if err := r.run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if cap(r.partial) > max+64<<10 || cap(r.rec) > 2*max+8 {
			t.Fatalf("held %d bytes of a line and %d of a record with max_line_bytes %d", cap(r.partial), cap(r.rec), max)
		}
		nlines := bytes.Count(data, []byte("\n"))
		if len(data) > 0 && data[len(data)-1] != '\n' {
			nlines++
		}
		last := 0
		for _, e := range out.rejects {
			lv, _ := e.Get("line")
			line, _ := lv.AsInt()
			if int(line) <= last || int(line) > nlines {
				t.Fatalf("reject at line %d after line %d, in a file of %d lines: %v", line, last, nlines, e)
			}
			last = int(line)
			raw, _ := e.Get("raw")
			if s, _ := raw.AsString(); len(s) > maxRaw+len("…") {
				t.Fatalf("raw text of %d bytes", len(s))
			}
		}
		if !csv {
			nr, nj := expectJSONL(data, max)
			if len(out.rows) != nr || len(out.rejects) != nj {
				t.Fatalf("%d rows and %d rejects, want %d and %d", len(out.rows), len(out.rejects), nr, nj)
			}
			return
		}
		if len(out.rows) > nlines {
			t.Fatalf("%d rows from %d lines", len(out.rows), nlines)
		}
		for _, row := range out.rows {
			if len(row) != len(r.header) {
				t.Fatalf("row %v has %d fields, the header %d", row, len(row), len(r.header))
			}
		}
	})
}
