package flowtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Update rewrites t's expectations from what the run r of t produced: expected rows (inline,
// or the JSON-lines file they came from), counts, tallies of the fields already tallied, and
// the metrics already required. Rules, order and targets stay as they are.
func (r *Result) Update(t *Test, dir string) error {
	if r.got == nil {
		return fmt.Errorf("test %q did not run: nothing to update from", t.Name)
	}
	for target, e := range t.Expect {
		got := r.got[target]
		if e.Rows != nil || e.File != "" {
			raws := make([]json.RawMessage, len(got))
			for i, g := range got {
				raws[i] = g.AppendJSON(nil)
			}
			if e.File != "" {
				var buf bytes.Buffer
				for _, raw := range raws {
					buf.Write(raw)
					buf.WriteByte('\n')
				}
				if err := writeFile(filepath.Join(dir, e.File), buf.Bytes()); err != nil {
					return err
				}
			} else {
				e.Rows = raws
			}
		}
		if e.Count != nil {
			n := int64(len(got))
			e.Count = &n
		}
		for name := range e.Tally {
			e.Tally[name] = countValues(got, name)
		}
	}
	for id, c := range t.Metrics {
		m, ok := r.metrics[id]
		if !ok {
			return fmt.Errorf("metrics: no node %q", id)
		}
		if c.RowsIn != nil {
			c.RowsIn = ptr(m.RowsIn)
		}
		if c.RowsOut != nil {
			c.RowsOut = ptr(m.RowsOut)
		}
		if c.Errors != nil {
			c.Errors = ptr(m.Errors)
		}
		t.Metrics[id] = c
	}
	return nil
}

func ptr(n int64) *int64 { return &n }

// writeFile replaces path with data through a temporary file in the same directory.
func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".flowtest-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
