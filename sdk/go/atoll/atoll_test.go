package atoll

import (
	"errors"
	"testing"

	"github.com/atoll-studio/atoll/engine/rows"
)

func run(t *testing.T, in *rows.Batch) *rows.Batch {
	t.Helper()
	out, err := rows.Decode(Process(rows.AppendBatch(nil, in)))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func batch(ns ...int64) *rows.Batch {
	b := &rows.Batch{}
	for _, n := range ns {
		b.Rows = append(b.Rows, rows.Row{{Name: "n", Value: rows.Int(n)}})
	}
	return b
}

func failed(r rows.Row) string {
	v, ok := r.Get(ErrorField)
	if !ok {
		return ""
	}
	s, _ := v.AsString()
	return s
}

func TestHandlers(t *testing.T) {
	cases := []struct {
		name     string
		register func()
		want     []string // per output row: "n=<n>" or "fail:<reason>"
	}{
		{"map", func() {
			Map(func(r rows.Row) (rows.Row, error) {
				n, _ := r[0].Value.AsInt()
				if n == 2 {
					return nil, errors.New("two")
				}
				r.Set("sq", rows.Int(n*n))
				return r, nil
			})
		}, []string{"n=1 sq=1", "fail:two", "n=3 sq=9"}},
		{"filter", func() {
			Filter(func(r rows.Row) (bool, error) {
				n, _ := r[0].Value.AsInt()
				return n != 2, nil
			})
		}, []string{"n=1", "n=3"}},
		{"flatmap", func() {
			FlatMap(func(r rows.Row, emit func(rows.Row)) error {
				n, _ := r[0].Value.AsInt()
				for k := int64(0); k < n-1; k++ {
					emit(r)
				}
				return nil
			})
		}, []string{"n=2", "n=3", "n=3"}},
		{"batch error fails every row", func() {
			Batch(func(in *rows.Batch, e *Emitter) error { return errors.New("nope") })
		}, []string{"fail:nope", "fail:nope", "fail:nope"}},
		{"panic is recovered", func() {
			Batch(func(in *rows.Batch, e *Emitter) error { panic("boom") })
		}, []string{"fail:panic: boom", "fail:panic: boom", "fail:panic: boom"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			handler = nil
			c.register()
			for round := 0; round < 3; round++ { // buffers are reused
				out := run(t, batch(1, 2, 3))
				if len(out.Rows) != len(c.want) {
					t.Fatalf("round %d: %d rows %v, want %v", round, len(out.Rows), out.Rows, c.want)
				}
				for i, r := range out.Rows {
					got := ""
					if f := failed(r); f != "" {
						got = "fail:" + f
					} else {
						for j, f := range r {
							if j > 0 {
								got += " "
							}
							got += f.Name + "=" + f.Value.String()
						}
					}
					if got != c.want[i] {
						t.Errorf("round %d row %d: %q, want %q", round, i, got, c.want[i])
					}
				}
			}
		})
	}
}

func TestInit(t *testing.T) {
	initFn = nil
	if err := RunInit([]byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	var got string
	Init(func(cfg []byte) error { got = string(cfg); return nil })
	if err := RunInit([]byte(`{"a":1}`)); err != nil || got != `{"a":1}` {
		t.Fatalf("init: %v %q", err, got)
	}
}

func TestMapFailSendsInputRow(t *testing.T) {
	handler = nil
	Map(func(r rows.Row) (rows.Row, error) {
		n, _ := r[0].Value.AsInt()
		r[0].Value = rows.Int(-n) // changed in place, then failed (for n == 2)
		r.Set("extra", rows.Bool(true))
		if n == 2 {
			return nil, errors.New("two")
		}
		return r, nil
	})
	for round := 0; round < 3; round++ {
		out := run(t, batch(1, 2, 3))
		want := []string{`n=-1 extra=true`, `n=2 $error="two"`, `n=-3 extra=true`}
		for i, r := range out.Rows {
			got := ""
			for j, f := range r {
				if j > 0 {
					got += " "
				}
				got += f.Name + "=" + f.Value.String()
			}
			if got != want[i] {
				t.Errorf("round %d row %d: %s, want %s", round, i, got, want[i])
			}
		}
	}
}

func TestEmptyBatch(t *testing.T) {
	handler = nil
	Map(func(r rows.Row) (rows.Row, error) { return r, nil })
	if got, want := string(Process(rows.AppendBatch(nil, &rows.Batch{}))), emptyBatch; got != want {
		t.Fatalf("empty batch: %q, want %q", got, want)
	}
	handler = nil
	Batch(func(in *rows.Batch, e *Emitter) error { // a batch handler may emit on empty input
		e.Emit(rows.Row{{Name: "tick", Value: rows.Int(1)}})
		return nil
	})
	if out := run(t, &rows.Batch{}); len(out.Rows) != 1 {
		t.Fatalf("batch handler on an empty batch: %v", out.Rows)
	}
}
