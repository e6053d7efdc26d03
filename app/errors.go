package app

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/storage"
)

// ErrNotFound is wrapped by every error about a graph, version, run or asset that does not
// exist (it is storage's sentinel, so errors from either layer match it).
var ErrNotFound = storage.ErrNotFound

// ErrInvalid is wrapped by every error about a request the service refuses: a document that is
// not a graph, a bad asset kind, a tap on a node port that does not exist.
var ErrInvalid = storage.ErrInvalid

// A graph that does not validate is reported as an *engine.InvalidGraphError, whose Problems
// are addressed to node ids and ports.

// errorBody is the JSON form of an error, the same on both transports:
// {"error": "message", "problems": [...]} (problems only for an invalid graph).
type errorBody struct {
	Error    string           `json:"error"`
	Problems []engine.Problem `json:"problems,omitempty"`
}

func bodyOf(err error) errorBody {
	b := errorBody{Error: err.Error()}
	var ig *engine.InvalidGraphError
	if errors.As(err, &ig) {
		b.Problems = ig.Problems
	}
	return b
}

// statusOf maps an error to its HTTP status: not found 404, invalid graph 422, refused input 400.
func statusOf(err error) int {
	var ig *engine.InvalidGraphError
	switch {
	case errors.As(err, &ig):
		return http.StatusUnprocessableEntity
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// FormatError is the Wails error formatter: bound methods reject with the same object the HTTP
// transport sends as an error body.
func FormatError(err error) any {
	b, _ := json.Marshal(bodyOf(err))
	return string(b)
}

func invalidDoc(err error) error {
	return &engine.InvalidGraphError{Problems: []engine.Problem{{Message: err.Error()}}}
}
