package function

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/wasinn"
)

// Inference and read-only files for function.wasm (engine/wasinn): the node registers models
// that its guest loads by name through wasi-nn (`wasi_ephemeral_nn.load_by_name`, as WasmEdge's
// `--nn-preload`), and may hand the guest small files (a labels file, say) from its assets.
// Importing engine/wasinn registers the wasi_ephemeral_nn host module in every Wasm runtime.

// nnDocs is appended to function.wasm's docs.
const nnDocs = "\n\n**Inference (wasi-nn).** `models` maps names to `.tflite` assets; the function " +
	"loads one with `wasi_ephemeral_nn.load_by_name(name)` (the Go SDK: `sdk/go/wasinn`) and runs it " +
	"on the host's TFLite interpreter, `nn_threads` goroutines per compute (0: all cores). Models " +
	"are parsed when the node is built, so a missing or unsupported model is a validation error. " +
	"Guests written for WasmEdge's wasi-nn run unchanged; `load` with model bytes works too.\n\n" +
	"**Files.** `files` maps names to assets (a labels file, say) that the function reads at " +
	"`/<name>`, read-only; it replaces `allow_dir`."

// nnFields are function.wasm's wasi-nn and files config fields.
var nnFields = []engine.Field{
	{Name: "models", Type: "object", Path: true, Doc: "models the function loads by name with wasi-nn: name → .tflite asset (SHA-256 or path)",
		Schema: map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string", "format": "asset", "x-asset-kind": "tflite"}}},
	{Name: "files", Type: "object", Path: true, Doc: "read-only files the function sees at /<name>: name → asset (SHA-256 or path); exclusive with allow_dir",
		Schema: map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string", "format": "asset"}}},
	{Name: "nn_threads", Type: "integer", Default: 1, Min: engine.Num(0), Max: engine.Num(256),
		Doc: "goroutines one wasi-nn compute may use (0: all cores)"},
}

// nnDefaults are the defaults of the nnFields.
const nnDefaultThreads = 1

// nnSetup is what a function.wasm node needs for wasi-nn and files: the context and the
// directory to give its instances, and what to release when it closes.
type nnSetup struct {
	// Context carries the node's wasi-nn Env (wasmhost.InstanceConfig.Context).
	Context context.Context
	// AllowDir is the directory to grant (wasmhost.InstanceConfig.AllowDir): allow_dir made
	// absolute against the graph's directory, or a private copy of `files`.
	AllowDir string
	env      *wasinn.Env
	tmp      string
}

// newNNSetup resolves the models and files through bc.Assets and builds the node's wasi-nn Env.
// Errors name the config field and the entry.
func newNNSetup(bc engine.BuildContext, models, files map[string]string, threads int, allowDir string, log func(level, msg string)) (*nnSetup, error) {
	s := &nnSetup{AllowDir: allowDir}
	if allowDir != "" && !filepath.IsAbs(allowDir) {
		if dir, ok := bc.Services["base_dir"].(string); ok && dir != "" {
			s.AllowDir = filepath.Join(dir, allowDir)
		}
	}
	if threads < 0 {
		return nil, fmt.Errorf("config: nn_threads must be >= 0, got %d", threads)
	}
	if (len(models) > 0 || len(files) > 0) && bc.Assets == nil {
		return nil, errors.New("config: models/files: no asset resolver to open them")
	}
	blobs := map[string][]byte{}
	for _, name := range sortedKeys(models) {
		b, err := bc.Assets.Asset(models[name])
		if err != nil {
			return nil, fmt.Errorf("config: models: %q: %w", name, err)
		}
		blobs[name] = b
	}
	env, err := wasinn.NewEnv(wasinn.Options{Models: blobs, Threads: threads, Log: log})
	if err != nil {
		return nil, fmt.Errorf("config: models: %w", err)
	}
	s.env = env
	s.Context = wasinn.WithEnv(context.Background(), env)
	if len(files) > 0 {
		if allowDir != "" {
			s.Close()
			return nil, errors.New("config: files and allow_dir are exclusive (files are mounted at /)")
		}
		if err := s.copyFiles(bc, files); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// copyFiles writes the files into a private directory that becomes the guest's read-only root.
func (s *nnSetup) copyFiles(bc engine.BuildContext, files map[string]string) error {
	dir, err := os.MkdirTemp("", "atoll-files-")
	if err != nil {
		return fmt.Errorf("config: files: %w", err)
	}
	s.tmp, s.AllowDir = dir, dir
	for _, name := range sortedKeys(files) {
		if name == "" || name != filepath.Base(name) || strings.HasPrefix(name, ".") {
			return fmt.Errorf("config: files: %q is not a plain file name", name)
		}
		b, err := bc.Assets.Asset(files[name])
		if err != nil {
			return fmt.Errorf("config: files: %q: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o444); err != nil {
			return fmt.Errorf("config: files: %q: %w", name, err)
		}
	}
	return nil
}

// Close releases the Env's graphs and contexts and the files' directory.
func (s *nnSetup) Close() error {
	if s.env != nil {
		s.env.Close()
	}
	if s.tmp != "" {
		return os.RemoveAll(s.tmp)
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
