// Command classifier is a generic audio classifier as a Go WebAssembly function: each input row
// is one window of float32 audio (`samples`, `rate`, `t_start`, `t_end`, from transform.frame);
// the guest runs the model through wasi-nn (the host's pure-Go TFLite interpreter) and emits the
// top-k classes of the window, one row each: `label`, `score`, `index`, `rank`, `t_start`,
// `t_end` (and the input's other fields). With `scores: true` the rank-1 row also carries the
// full score vector `scores` (float32s).
//
// Config (the function.wasm node's `config`):
//
//	model         name of a model the node registered (its `models`), default "model"
//	labels        class names: a list, or a path in the guest's file system (a granted
//	              directory) to a CSV with a header (index,mid,display_name — YAMNet's class
//	              map) or to a file with one label per line; empty: labels are "class <i>"
//	rate          sample rate the model wants (Hz; 0: any), default 16000
//	window        samples per window, default 15600 (0.975 s at 16 kHz)
//	input_shape   the model input's dims, default [1, window]
//	output        the model output holding the scores, default 0
//	top_k         classes per window, default 5
//	scores        also emit the full score vector, default false
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o classifier.wasm .
//
// It uses only the standard wasi_ephemeral_nn imports, so the same module runs on WasmEdge
// with `--nn-preload yamnet:TensorflowLite:CPU:yamnet.tflite`.
package main

import (
	"encoding/json"
	"fmt"

	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/sdk/go/atoll"
	"github.com/atoll-studio/atoll/sdk/go/wasinn"
)

// Config is the function's config.
type Config struct {
	Model      string          `json:"model"`
	Labels     json.RawMessage `json:"labels"`
	Rate       int64           `json:"rate"`
	Window     int             `json:"window"`
	InputShape []uint32        `json:"input_shape"`
	Output     int             `json:"output"`
	TopK       int             `json:"top_k"`
	Scores     bool            `json:"scores"`
}

var (
	cfg    = Config{Model: "model", Rate: 16000, Window: 15600, TopK: 5}
	labels []string
	ctx    wasinn.Context
	scores = make([]float32, 0, 1024) // reused output buffer (grown by the SDK when too small)
	top    []int
)

func configure(config []byte) error {
	if len(config) > 0 {
		if err := json.Unmarshal(config, &cfg); err != nil {
			return fmt.Errorf("classifier config: %w", err)
		}
	}
	if cfg.Window <= 0 {
		return fmt.Errorf("classifier config: window must be > 0")
	}
	if cfg.TopK <= 0 {
		return fmt.Errorf("classifier config: top_k must be > 0")
	}
	if len(cfg.InputShape) == 0 {
		cfg.InputShape = []uint32{1, uint32(cfg.Window)}
	}
	var err error
	if labels, err = loadLabels(cfg.Labels); err != nil {
		return fmt.Errorf("classifier config: labels: %w", err)
	}
	g, err := wasinn.LoadByName(cfg.Model)
	if err != nil {
		return fmt.Errorf("classifier: load model %q: %w", cfg.Model, err)
	}
	if ctx, err = g.NewContext(); err != nil {
		return fmt.Errorf("classifier: execution context: %w", err)
	}
	atoll.Logf(atoll.Info, "classifier: model %q, %d labels, window %d at %d Hz, top %d", cfg.Model, len(labels), cfg.Window, cfg.Rate, cfg.TopK)
	return nil
}

func classify(r rows.Row, emit func(rows.Row)) error {
	sv, ok := r.Get("samples")
	if !ok {
		return fmt.Errorf("row has no \"samples\" field")
	}
	samples, ok := sv.AsFloat32s()
	if !ok {
		return fmt.Errorf("field \"samples\" is %s, not float32s", sv.Kind())
	}
	if len(samples) != cfg.Window {
		return fmt.Errorf("window of %d samples, the model takes %d (frame the audio with transform.frame)", len(samples), cfg.Window)
	}
	if cfg.Rate > 0 {
		rv, _ := r.Get("rate")
		if rate, ok := rv.AsInt(); !ok || rate != cfg.Rate {
			return fmt.Errorf("audio at %v Hz, the model takes %d Hz (resample with transform.resample)", rv, cfg.Rate)
		}
	}
	if err := ctx.SetInputFloat32(0, cfg.InputShape, samples); err != nil {
		return fmt.Errorf("set_input: %w", err)
	}
	if err := ctx.Compute(); err != nil {
		return fmt.Errorf("compute: %w", err)
	}
	var err error
	if scores, err = ctx.OutputFloat32(cfg.Output, scores[:0]); err != nil {
		return fmt.Errorf("get_output: %w", err)
	}
	top = topK(scores, cfg.TopK, top[:0])
	for rank, idx := range top {
		out := make(rows.Row, 0, len(r)+4)
		out = append(out,
			rows.Field{Name: "label", Value: rows.String(label(idx))},
			rows.Field{Name: "score", Value: rows.Float(float64(scores[idx]))},
			rows.Field{Name: "index", Value: rows.Int(int64(idx))},
			rows.Field{Name: "rank", Value: rows.Int(int64(rank + 1))},
		)
		for _, f := range r {
			if f.Name != "samples" && f.Name != "rate" {
				out = append(out, f)
			}
		}
		if rank == 0 && cfg.Scores {
			out = append(out, rows.Field{Name: "scores", Value: rows.Float32s(append([]float32(nil), scores...))})
		}
		emit(out)
	}
	return nil
}

func label(i int) string {
	if i < len(labels) {
		return labels[i]
	}
	return fmt.Sprintf("class %d", i)
}

// topK returns the indices of the k highest scores, best first (ties: lower index first).
func topK(s []float32, k int, dst []int) []int {
	k = min(k, len(s))
	for i, v := range s {
		if len(dst) == k && v <= s[dst[k-1]] {
			continue
		}
		j := len(dst)
		if j < k {
			dst = append(dst, i)
		} else {
			j = k - 1
		}
		for j > 0 && v > s[dst[j-1]] {
			dst[j] = dst[j-1]
			j--
		}
		dst[j] = i
	}
	return dst
}

func init() {
	atoll.Init(configure)
	atoll.FlatMap(classify)
}

func main() {}
