package wasmhost

import "sync"

// Host modules registered process-wide (engine/wasinn registers wasi_ephemeral_nn from its
// init), so that every Runtime — the engine's, Shared(), a test's — offers them without each
// caller listing them in Config.HostModules. A module imported only by some guests costs nothing
// to the others: unused host modules are never linked.
var registered struct {
	mu      sync.Mutex
	modules []HostModule
}

// RegisterHostModule adds hm to the host modules of every Runtime created after the call.
// Registering a name twice keeps the first.
func RegisterHostModule(hm HostModule) {
	registered.mu.Lock()
	defer registered.mu.Unlock()
	for _, m := range registered.modules {
		if m.Name == hm.Name {
			return
		}
	}
	registered.modules = append(registered.modules, hm)
}

// RegisteredHostModules returns the host modules registered with RegisterHostModule, followed
// by those of extra whose names are not registered: the list NewRuntime instantiates.
func RegisteredHostModules(extra []HostModule) []HostModule {
	registered.mu.Lock()
	defer registered.mu.Unlock()
	out := append([]HostModule(nil), registered.modules...)
next:
	for _, hm := range extra {
		for _, m := range out {
			if m.Name == hm.Name {
				continue next
			}
		}
		out = append(out, hm)
	}
	return out
}
