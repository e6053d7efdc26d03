package wasmhost

import (
	"context"
	"sync"
)

// ServiceName is the engine.BuildContext.Services key of the engine's *Runtime.
const ServiceName = "wasm"

var (
	sharedOnce sync.Once
	shared     *Runtime
	sharedErr  error
)

// Shared returns a process-wide runtime with the default configuration, for nodes built without
// an engine-provided one. It falls back to an in-memory compilation cache when the user cache
// directory is unusable.
func Shared() (*Runtime, error) {
	sharedOnce.Do(func() {
		shared, sharedErr = NewRuntime(context.Background(), Config{})
		if sharedErr != nil {
			shared, sharedErr = NewRuntime(context.Background(), Config{CacheDir: "-"})
		}
	})
	return shared, sharedErr
}
