package core

import (
	"fmt"
	"sort"
	"unsafe"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/atoll-studio/atoll/engine/rows"
)

// rowExpr is a compiled expression over a row's fields (expr-lang/expr). The environment holds
// only the fields the expression names, refilled per row into one reused map.
type rowExpr struct {
	src     string
	program *vm.Program
	idents  []string
	fast    fastExpr // nil when the expression needs the VM
}

func compileRowExpr(src string) (*rowExpr, error) {
	// A map environment known at compile time lets the VM read identifiers without reflection.
	tree, err := expr.Compile(src, expr.Env(map[string]any{}), expr.AllowUndefinedVariables())
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var idents []string
	ast.Find(tree.Node(), func(n ast.Node) bool {
		if id, ok := n.(*ast.IdentifierNode); ok && !seen[id.Value] {
			seen[id.Value] = true
			idents = append(idents, id.Value)
		}
		return false
	})
	sort.Strings(idents)
	return &rowExpr{src: src, program: tree, idents: idents, fast: compileFast(tree.Node())}, nil
}

// exprEnv evaluates expressions over rows with a reused environment and VM.
type exprEnv struct {
	env  map[string]any
	vm   vm.VM
	ints []int64 // backing store for boxed ints handed to the VM; see boxInt
}

type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

var int64Type = func() unsafe.Pointer {
	var x any = int64(1 << 40)
	return (*eface)(unsafe.Pointer(&x)).typ
}()

// boxInt returns v as an interface without a heap allocation per call: the value lives in a
// slab that is replaced, not reused, when full, so an interface handed out earlier stays valid.
func (e *exprEnv) boxInt(v int64) any {
	if len(e.ints) == cap(e.ints) {
		e.ints = make([]int64, 0, 1024)
	}
	e.ints = append(e.ints, v)
	var out any
	p := (*eface)(unsafe.Pointer(&out))
	p.typ = int64Type
	p.data = unsafe.Pointer(&e.ints[len(e.ints)-1])
	return out
}

func newExprEnv() *exprEnv { return &exprEnv{env: map[string]any{}} }

func (e *exprEnv) eval(x *rowExpr, r rows.Row) (any, error) {
	for _, id := range x.idents {
		if v, ok := r.Get(id); ok {
			if i, isInt := v.AsInt(); isInt {
				e.env[id] = e.boxInt(i)
			} else {
				e.env[id] = v.Any()
			}
		} else {
			delete(e.env, id)
		}
	}
	out, err := e.vm.Run(x.program, e.env)
	if err != nil {
		return nil, fmt.Errorf("expression %q: %w", x.src, err)
	}
	return out, nil
}
