// Package nodes holds Atoll's default node catalog. Node types live in subpackages, one file per
// type, and register themselves into Default from init; nodes/all imports every headless one.
package nodes

import "github.com/atoll-studio/atoll/engine"

// Default is the catalog node packages register into.
var Default = engine.NewCatalog()

// Register adds a spec to the default catalog.
func Register(s engine.Spec) { Default.Register(s) }

// New returns a copy of the default catalog that a test or the studio may extend.
func New() *engine.Catalog { return Default.Clone() }
