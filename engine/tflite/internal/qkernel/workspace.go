package qkernel

import "sync"

// Workspace is one caller's reusable state for the parallel kernels: the job values handed to
// Parallel and per-chunk scratch rows. With one Workspace per operator and interpreter, reused
// across calls, the kernels allocate nothing after the first call. A nil *Workspace works but
// allocates. A Workspace must not be used by two calls at once.
type Workspace struct {
	conv8  conv8Job
	conv16 conv16Job
	dw     depthwiseJob
	fc     fcJob

	mu  sync.Mutex
	i8  [][]int8
	i16 [][]int16
	i32 [][]int32
}

// getBuf hands out buffers of n elements to concurrent chunks and takes them back; after
// warm-up it holds one per goroutine that ran at once.
func getBuf[T any](ws *Workspace, free *[][]T, n int) []T {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for i := len(*free) - 1; i >= 0; i-- {
		if b := (*free)[i]; cap(b) >= n {
			(*free)[i] = (*free)[len(*free)-1]
			*free = (*free)[:len(*free)-1]
			return b[:n]
		}
	}
	return make([]T, n)
}

func putBuf[T any](ws *Workspace, free *[][]T, b []T) {
	ws.mu.Lock()
	*free = append(*free, b)
	ws.mu.Unlock()
}

func (ws *Workspace) orNew() *Workspace {
	if ws == nil {
		return new(Workspace)
	}
	return ws
}

// runJob stores v in the workspace's job j, runs it over [0, n) and clears it (so the
// workspace does not keep the caller's tensors reachable).
func runJob[J any, PJ interface {
	*J
	Job
}](par Parallel, n int, j PJ, v J) {
	*j = v
	run(par, n, j)
	var zero J
	*j = zero
}
