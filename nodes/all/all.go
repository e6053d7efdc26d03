// Package all brings every headless node type into the default catalog (nodes.Default) by
// importing each node package for its side effects. The runner and `atoll run` import it; the
// studio also imports nodes/studio for the node types that only work inside it.
package all

import (
	_ "github.com/atoll-studio/atoll/nodes/audio"
	_ "github.com/atoll-studio/atoll/nodes/core"
	_ "github.com/atoll-studio/atoll/nodes/function"
	_ "github.com/atoll-studio/atoll/nodes/http"
	_ "github.com/atoll-studio/atoll/nodes/mqtt"
	_ "github.com/atoll-studio/atoll/nodes/sqlite"
)
