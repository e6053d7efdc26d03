package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/atoll-studio/atoll/engine/rows"
)

// FunctionConfig configures a Function.
type FunctionConfig struct {
	InstanceConfig
	// Instances is the number of instances (workers) to keep (default DefaultInstances).
	Instances int
}

// Function is a pool of instances of one module that Process calls share. An instance that
// trapped, exited or was interrupted is thrown away and replaced by a fresh one from the same
// compiled module; the batch it was working on fails row by row with the reason.
type Function struct {
	m    *Module
	cfg  InstanceConfig
	pool chan *Instance // nil entries are instances to (re)create

	calls    atomic.Int64
	fuel     atomic.Int64
	restarts atomic.Int64

	closeOnce sync.Once
}

// NewFunction starts cfg.Instances instances at once, so that a wrong ABI version, a failing
// init or a trap at start is reported before any batch.
func (m *Module) NewFunction(cfg FunctionConfig) (*Function, error) {
	n := cfg.Instances
	if n <= 0 {
		n = DefaultInstances
	}
	f := &Function{m: m, cfg: cfg.InstanceConfig, pool: make(chan *Instance, n)}
	for k := 0; k < n; k++ {
		inst, err := m.NewInstance(cfg.InstanceConfig)
		if err != nil {
			f.Close()
			return nil, err
		}
		f.pool <- inst
	}
	return f, nil
}

// Process sends b through one instance. Rows the guest failed and, when the call itself fails,
// every row of b come back in Result.Failed with the reason; an error is returned only when ctx
// ends while waiting for an instance or when a replacement instance cannot be started.
func (f *Function) Process(ctx context.Context, b *rows.Batch) (Result, error) {
	var inst *Instance
	select {
	case inst = <-f.pool:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	if inst == nil {
		var err error
		if inst, err = f.m.NewInstance(f.cfg); err != nil {
			f.pool <- nil
			return Result{}, fmt.Errorf("restart instance: %w", err)
		}
	}
	res, err := inst.Process(b)
	f.calls.Add(1)
	f.fuel.Add(res.Fuel)
	if err == nil {
		f.pool <- inst
		return res, nil
	}
	var ce *CallError
	if !errors.As(err, &ce) {
		f.pool <- inst
		return Result{}, err
	}
	// The instance's state is undefined: replace it, reusing the compiled module.
	inst.Close()
	f.restarts.Add(1)
	next, nerr := f.m.NewInstance(f.cfg)
	f.pool <- next // nil when it failed: the next call retries
	res = Result{Out: &rows.Batch{}, Failed: make([]Failure, len(b.Rows))}
	for k, r := range b.Rows {
		res.Failed[k] = Failure{Row: r, Reason: ce.Error()}
	}
	if nerr != nil {
		return res, fmt.Errorf("restart instance after %q: %w", ce.Error(), nerr)
	}
	return res, nil
}

// Stats are a Function's counters.
type Stats struct {
	Calls    int64
	Fuel     int64 // total fuel used
	Restarts int64 // instances replaced after a failed call
}

// Stats returns the counters.
func (f *Function) Stats() Stats {
	return Stats{Calls: f.calls.Load(), Fuel: f.fuel.Load(), Restarts: f.restarts.Load()}
}

// Close closes the instances that are idle; call it once no Process call is running.
func (f *Function) Close() error {
	f.closeOnce.Do(func() {
		for {
			select {
			case inst := <-f.pool:
				if inst != nil {
					inst.Close()
				}
			default:
				return
			}
		}
	})
	return nil
}
