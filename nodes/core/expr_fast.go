package core

import (
	"unsafe"

	"github.com/expr-lang/expr/ast"

	"github.com/atoll-studio/atoll/engine/rows"
)

// fastExpr evaluates an expression straight over a row's values, without the expr VM's
// environment map, boxing and type switches. It covers the arithmetic, comparison, logic and
// conditional expressions most maps and filters use, on int, float, bool and string values.
// When it meets anything else at run time (a missing field, null, another kind, an integer
// division by zero, a non-boolean condition) it reports false and the caller runs the VM,
// which gives expr's exact result or error. A differential test keeps the two in step.
type fastExpr func(r rows.Row) (rows.Value, bool)

// compileFast returns the fast form of an expr AST, or nil when some node is not covered.
func compileFast(n ast.Node) fastExpr {
	switch n := n.(type) {
	case *ast.IdentifierNode, *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.StringNode, *ast.ConstantNode:
		o, ok := leaf(n)
		if !ok {
			return nil
		}
		return o.get
	case *ast.UnaryNode:
		x := compileFast(n.Node)
		if x == nil {
			return nil
		}
		switch n.Operator {
		case "-":
			return func(r rows.Row) (rows.Value, bool) {
				v, ok := x(r)
				if i, isInt := v.AsInt(); ok && isInt {
					return rows.Int(-i), true
				}
				if f, isFloat := v.AsFloat(); ok && isFloat {
					return rows.Float(-f), true
				}
				return rows.Value{}, false
			}
		case "!", "not":
			return func(r rows.Row) (rows.Value, bool) {
				v, ok := x(r)
				b, isBool := v.AsBool()
				return rows.Bool(!b), ok && isBool
			}
		}
		return nil
	case *ast.ConditionalNode:
		c, a, b := compileFast(n.Cond), compileFast(n.Exp1), compileFast(n.Exp2)
		if c == nil || a == nil || b == nil {
			return nil
		}
		return func(r rows.Row) (rows.Value, bool) {
			v, ok := c(r)
			cond, isBool := v.AsBool()
			if !ok || !isBool {
				return rows.Value{}, false
			}
			if cond {
				return a(r)
			}
			return b(r)
		}
	case *ast.BinaryNode:
		return compileBinary(n)
	}
	return nil
}

// operand is a leaf of an expression: a row field or a constant. Binary nodes over two leaves
// read them with direct calls instead of going through two more closures.
type operand struct {
	name     string
	constant bool
	v        rows.Value
}

func leaf(n ast.Node) (operand, bool) {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		return operand{name: n.Value}, true
	case *ast.IntegerNode:
		return operand{constant: true, v: rows.Int(int64(n.Value))}, true
	case *ast.FloatNode:
		return operand{constant: true, v: rows.Float(n.Value)}, true
	case *ast.BoolNode:
		return operand{constant: true, v: rows.Bool(n.Value)}, true
	case *ast.StringNode:
		return operand{constant: true, v: rows.String(n.Value)}, true
	case *ast.ConstantNode:
		switch v := n.Value.(type) {
		case int:
			return operand{constant: true, v: rows.Int(int64(v))}, true
		case int64:
			return operand{constant: true, v: rows.Int(v)}, true
		case float64:
			return operand{constant: true, v: rows.Float(v)}, true
		case bool:
			return operand{constant: true, v: rows.Bool(v)}, true
		case string:
			return operand{constant: true, v: rows.String(v)}, true
		}
	}
	return operand{}, false
}

// get returns the operand's value in row r, if it is of a kind the fast path covers.
func (o *operand) get(r rows.Row) (rows.Value, bool) {
	if o.constant {
		return o.v, true
	}
	for i := range r {
		if sameName(r[i].Name, o.name) {
			switch r[i].Value.Kind() {
			case rows.KindInt, rows.KindFloat, rows.KindBool, rows.KindString:
				return r[i].Value, true
			}
			return rows.Value{}, false
		}
	}
	return rows.Value{}, false
}

// intField returns the int field named name.
func intField(r rows.Row, name string) (int64, bool) {
	for i := range r {
		if sameName(r[i].Name, name) {
			return r[i].Value.AsInt()
		}
	}
	return 0, false
}

// sameName compares field names. Most mismatches are settled by length and first byte, and
// one-byte names or the same string data without calling the runtime's comparison.
func sameName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 {
		return true
	}
	if a[0] != b[0] {
		return false
	}
	return len(a) == 1 || unsafe.StringData(a) == unsafe.StringData(b) || a[1:] == b[1:]
}

func compileBinary(n *ast.BinaryNode) fastExpr {
	l, r := compileFast(n.Left), compileFast(n.Right)
	if l == nil || r == nil {
		return nil
	}
	switch n.Operator {
	case "&&", "and", "||", "or":
		// expr evaluates the right side only when the left does not decide.
		decides := n.Operator == "||" || n.Operator == "or"
		return func(row rows.Row) (rows.Value, bool) {
			v, ok := l(row)
			b, isBool := v.AsBool()
			if !ok || !isBool {
				return rows.Value{}, false
			}
			if b == decides {
				return v, true
			}
			w, ok := r(row)
			_, isBool = w.AsBool()
			return w, ok && isBool
		}
	case "+", "-", "*", "/", "%":
		op := n.Operator[0]
		lo, lLeaf := leaf(n.Left)
		ro, rLeaf := leaf(n.Right)
		if lLeaf && rLeaf {
			generic := func(row rows.Row) (rows.Value, bool) {
				a, ok1 := lo.get(row)
				b, ok2 := ro.get(row)
				if !ok1 || !ok2 {
					return rows.Value{}, false
				}
				return arith(op, a, b)
			}
			if op == '%' || op == '/' || lo.constant {
				return generic
			}
			// The commonest shape, field ± × (int constant or field), read and computed in
			// one call when both are ints; anything else takes the generic path.
			c, cInt := ro.v.AsInt()
			if ro.constant && !cInt {
				return generic
			}
			return func(row rows.Row) (rows.Value, bool) {
				x, ok := intField(row, lo.name)
				if !ok {
					return generic(row)
				}
				y := c
				if !ro.constant {
					if y, ok = intField(row, ro.name); !ok {
						return generic(row)
					}
				}
				switch op {
				case '+':
					return rows.Int(x + y), true
				case '-':
					return rows.Int(x - y), true
				}
				return rows.Int(x * y), true
			}
		}
		return func(row rows.Row) (rows.Value, bool) {
			a, ok1 := l(row)
			b, ok2 := r(row)
			if !ok1 || !ok2 {
				return rows.Value{}, false
			}
			return arith(op, a, b)
		}
	case "==", "!=", "<", "<=", ">", ">=":
		op := n.Operator
		return func(row rows.Row) (rows.Value, bool) {
			a, ok1 := l(row)
			b, ok2 := r(row)
			if !ok1 || !ok2 {
				return rows.Value{}, false
			}
			c, ok := compare(a, b, op == "==" || op == "!=")
			if !ok {
				return rows.Value{}, false
			}
			var res bool
			switch op {
			case "==":
				res = c == 0
			case "!=":
				res = c != 0
			case "<":
				res = c < 0
			case "<=":
				res = c <= 0
			case ">":
				res = c > 0
			case ">=":
				res = c >= 0
			}
			return rows.Bool(res), true
		}
	}
	return nil
}

// arith follows expr: int op int stays int (wrapping), "/" always divides as floats, "%" takes
// ints only, and a float on either side makes a float.
func arith(op byte, a, b rows.Value) (rows.Value, bool) {
	x, aInt := a.AsInt()
	y, bInt := b.AsInt()
	if aInt && bInt {
		switch op {
		case '+':
			return rows.Int(x + y), true
		case '-':
			return rows.Int(x - y), true
		case '*':
			return rows.Int(x * y), true
		case '/':
			return rows.Float(float64(x) / float64(y)), true
		case '%':
			if y == 0 {
				return rows.Value{}, false // the VM reports the error
			}
			return rows.Int(x % y), true
		}
		return rows.Value{}, false
	}
	f, aNum := a.AsFloat()
	g, bNum := b.AsFloat()
	if !aNum || !bNum {
		return rows.Value{}, false
	}
	switch op {
	case '+':
		return rows.Float(f + g), true
	case '-':
		return rows.Float(f - g), true
	case '*':
		return rows.Float(f * g), true
	case '/':
		return rows.Float(f / g), true
	}
	return rows.Value{}, false
}

// compare orders two numbers or two strings; equality also takes two bools. It returns -1, 0
// or 1 (0 for unordered NaN comparisons is avoided: NaN is handled by falling back).
func compare(a, b rows.Value, equality bool) (int, bool) {
	if x, ok := a.AsInt(); ok {
		if y, ok := b.AsInt(); ok {
			return cmp3(x < y, x > y), true
		}
	}
	if f, ok := a.AsFloat(); ok {
		if g, ok := b.AsFloat(); ok {
			if f != f || g != g {
				return 0, false // NaN: every ordering is false; let the VM say so
			}
			return cmp3(f < g, f > g), true
		}
		return 0, false
	}
	if s, ok := a.AsString(); ok {
		if t, ok := b.AsString(); ok {
			return cmp3(s < t, s > t), true
		}
		return 0, false
	}
	if x, ok := a.AsBool(); ok && equality {
		if y, ok := b.AsBool(); ok {
			return cmp3(false, x != y), true
		}
	}
	return 0, false
}

func cmp3(less, greater bool) int {
	switch {
	case less:
		return -1
	case greater:
		return 1
	}
	return 0
}
