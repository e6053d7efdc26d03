package tflite

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// rangeJob is work over [0, n) that may be split into chunks run concurrently.
//
// Kernels keep their jobs in the OpContext (jobOf), one value per job type per interpreter,
// and fill in the fields before each call: a closure handed to other goroutines would escape
// and allocate on every Invoke.
type rangeJob interface{ Run(lo, hi int) }

// jobOf returns the OpContext's job of type J, allocated on first use and reused afterwards.
// A kernel may reuse one job for several sequential parallel calls in one Eval.
func jobOf[J any](c *OpContext) *J {
	for _, j := range c.jobs {
		if j, ok := j.(*J); ok {
			return j
		}
	}
	j := new(J)
	c.jobs = append(c.jobs, j)
	return j
}

// minParallelWork is the estimated work (multiply-adds or element moves) below which a job runs
// on the calling goroutine: waking a worker costs microseconds, more on a loaded machine.
const minParallelWork = 1 << 16

// chunksPerThread sets the granularity: more chunks than threads so that a worker that starts
// late (descheduled, machine under load) takes fewer chunks instead of holding up the others.
const chunksPerThread = 4

// parallel runs j over [0, n) on up to Threads goroutines.
func (c *OpContext) parallel(n int, j rangeJob) {
	if n <= 0 {
		return
	}
	if c.Threads <= 1 || n == 1 || c.pool == nil {
		j.Run(0, n)
		return
	}
	c.pool.run(n, c.Threads, j)
}

// parallelWork is parallel for a job of about work units in total; small jobs run inline.
func (c *OpContext) parallelWork(n, work int, j rangeJob) {
	if work < minParallelWork {
		if n > 0 {
			j.Run(0, n)
		}
		return
	}
	c.parallel(n, j)
}

// workerPool is a fixed set of goroutines owned by one interpreter (used by one goroutine at a
// time). A run splits [0, n) into chunks; the caller and the woken workers claim chunks by
// decrementing remaining, so whoever is running takes the work, and the caller only waits for
// chunks a worker has already claimed, never for a worker that has not started.
type workerPool struct {
	workers int
	wake    chan struct{}
	// finished receives one value when the last chunk completes after the caller started
	// waiting.
	finished chan struct{}
	// remaining is the number of unclaimed chunks of the current run. A successful claim (CAS)
	// makes the fields below valid until that chunk is marked done.
	remaining atomic.Int64
	// done counts finished chunks; waitBit is set by the caller when it starts waiting.
	done atomic.Uint32

	job          rangeJob
	n, chunk     int
	total        uint32
	wg           sync.WaitGroup
	once         sync.Once
	workerChunks atomic.Int64 // chunks run by workers rather than the caller
	closing      atomic.Bool
}

const waitBit = 1 << 31

func newWorkerPool(workers int) *workerPool {
	p := &workerPool{workers: workers, wake: make(chan struct{}, workers), finished: make(chan struct{}, 1)}
	for range workers {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for range p.wake {
				p.workerChunks.Add(p.work())
				p.spin()
			}
		}()
	}
	return p
}

// spinFor is how long a worker keeps looking for chunks after its last one before it parks.
// An Invoke is a chain of operators, most of them parallel, separated by gaps of microseconds;
// a parked goroutine takes tens of microseconds to be woken on a virtual machine, by which time
// the caller has run most of the chunks itself (measured on YAMNet: workers ran ~5 % of the
// chunks and two threads were no faster than one). Spinning across the gaps keeps the worker
// in the Invoke; it parks once the Invoke is over, at a cost of at most spinFor of CPU.
const spinFor = 100 * time.Microsecond

// spin runs chunks of the runs that start within spinFor of each other, then returns so the
// worker parks. It yields the processor between checks: on a loaded machine the goroutine the
// worker waits for may need it.
func (p *workerPool) spin() {
	idle := time.Now()
	for i := 0; ; i++ {
		if p.remaining.Load() > 0 {
			p.workerChunks.Add(p.work())
			idle = time.Now()
			continue
		}
		if p.closing.Load() || (i%64 == 0 && time.Since(idle) > spinFor) {
			return
		}
		runtime.Gosched()
	}
}

// work claims and runs chunks until none is left and returns how many it ran.
func (p *workerPool) work() int64 {
	var ran int64
	for {
		rem := p.remaining.Load()
		if rem <= 0 {
			return ran
		}
		if !p.remaining.CompareAndSwap(rem, rem-1) {
			continue
		}
		j, chunk, n, total := p.job, p.chunk, p.n, p.total
		lo := int(rem-1) * chunk
		j.Run(lo, min(lo+chunk, n))
		ran++
		if p.done.Add(1) == total|waitBit {
			p.finished <- struct{}{}
		}
	}
}

func (p *workerPool) run(n, threads int, j rangeJob) {
	parts := min(threads*chunksPerThread, n)
	chunk := (n + parts - 1) / parts
	total := (n + chunk - 1) / chunk
	p.job, p.n, p.chunk, p.total = j, n, chunk, uint32(total)
	p.done.Store(0)
	p.remaining.Store(int64(total))
	for range min(p.workers, threads-1, total-1) {
		select {
		case p.wake <- struct{}{}:
		default: // every worker already has a wake-up pending
		}
	}
	p.work()
	// The chunks left are running on workers and take microseconds: wait for them spinning,
	// as parking the caller would cost a wake-up per operator (see spinFor).
	since := time.Now()
	for i := 1; p.done.Load() != uint32(total); i++ {
		if i%64 == 0 && time.Since(since) > spinFor {
			if old := p.done.Or(waitBit); old != uint32(total) {
				<-p.finished
			}
			break
		}
		runtime.Gosched()
	}
	p.job = nil
}

func (p *workerPool) close() {
	p.once.Do(func() {
		p.closing.Store(true)
		close(p.wake)
		p.wg.Wait()
	})
}
