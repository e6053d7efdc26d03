package core

import "encoding/json"

// CheckpointService is the BuildContext.Services key of a Checkpoints store. The runner sets it
// (state kept in its --state directory) so that resumable sources continue after a restart or a
// live update where their acknowledged output ends.
const CheckpointService = "checkpoints"

// Checkpoints keeps each source's acknowledged position by node id. Save is called on every
// acknowledgement and must be cheap (the store writes to disk on its own schedule); Load returns
// what was saved last, by this process or a previous one.
type Checkpoints interface {
	Load(node string) (json.RawMessage, bool)
	Save(node string, state json.RawMessage)
}

// fileCheckpoint is source.file's saved position: the byte offset up to which every row reached
// every sink, in the file at path.
type fileCheckpoint struct {
	Path   string `json:"path"`
	Offset int64  `json:"offset"`
}

// resumeOffset returns the acknowledged offset saved for this node and file, if it still fits
// the file (a file shorter than it was replaced: read it from the start).
func (s *fileSource) resumeOffset(size int64) int64 {
	if s.cp == nil {
		return 0
	}
	raw, ok := s.cp.Load(s.node)
	if !ok {
		return 0
	}
	var c fileCheckpoint
	if json.Unmarshal(raw, &c) != nil || c.Path != s.path || c.Offset <= 0 || c.Offset > size {
		return 0
	}
	return c.Offset
}

// saveOffset records the acknowledged offset.
func (s *fileSource) saveOffset(off int64) {
	if s.cp == nil {
		return
	}
	b, _ := json.Marshal(fileCheckpoint{Path: s.path, Offset: off})
	s.cp.Save(s.node, b)
}
