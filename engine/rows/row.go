package rows

// Field is one named value of a row.
type Field struct {
	Name  string
	Value Value
}

// Row is an ordered set of named, typed values. Names are unique within a row.
type Row []Field

// Get returns the value named name and whether it is present.
func (r Row) Get(name string) (Value, bool) {
	for i := range r {
		if sameStart(r[i].Name, name) && equalName(r[i].Name, name) {
			return r[i].Value, true
		}
	}
	return Value{}, false
}

// sameStart reports whether two names have the same length and first byte: an inlined filter in
// front of equalName, a call (and in Wasm an expensive one).
func sameStart(a, b string) bool {
	return len(a) == len(b) && (len(a) == 0 || a[0] == b[0])
}

// Set replaces the value named name, or appends it when absent.
func (r *Row) Set(name string, v Value) {
	row := *r
	for i := range row {
		if sameStart(row[i].Name, name) && equalName(row[i].Name, name) {
			row[i].Value = v
			return
		}
	}
	*r = append(row, Field{Name: name, Value: v})
}

// Delete removes the value named name, keeping the order of the rest.
func (r *Row) Delete(name string) {
	row := *r
	for i := range row {
		if sameStart(row[i].Name, name) && equalName(row[i].Name, name) {
			*r = append(row[:i], row[i+1:]...)
			return
		}
	}
}

// Clone returns a row with its own field slice; values are shared (they are immutable).
func (r Row) Clone() Row {
	out := make(Row, len(r), len(r)+2)
	copy(out, r)
	return out
}

// Equal reports whether two rows have the same names, order and values.
func (r Row) Equal(o Row) bool {
	if len(r) != len(o) {
		return false
	}
	for i := range r {
		if r[i].Name != o[i].Name || !r[i].Value.Equal(o[i].Value) {
			return false
		}
	}
	return true
}

// Batch is the unit that travels on edges and across the Wasm boundary.
type Batch struct {
	Rows []Row
}

// Len returns the number of rows.
func (b *Batch) Len() int { return len(b.Rows) }

// Clone returns a batch whose rows can be modified without affecting b.
func (b *Batch) Clone() *Batch {
	out := &Batch{Rows: make([]Row, len(b.Rows))}
	n := 0
	for _, r := range b.Rows {
		n += len(r)
	}
	fields := make([]Field, 0, n)
	for i, r := range b.Rows {
		start := len(fields)
		fields = append(fields, r...)
		out.Rows[i] = fields[start:len(fields):len(fields)]
	}
	return out
}
