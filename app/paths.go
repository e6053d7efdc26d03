package app

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/storage"
)

// Files that a graph run or validated by the studio names (every value of a spec field marked
// engine.Field.Path: source.file, sink.file, source.wav, function.wasm's module, allow_dir,
// models and files, and any later node's path fields) must lie inside the workspace or a
// directory the user added in the settings. `atoll run` and the runner do not confine: they run
// the user's own graph file.

// Settings are the studio's user settings.
type Settings struct {
	// Workspace is the directory the studio's graphs read and write in (read-only here).
	Workspace string `json:"workspace"`
	// AllowedDirs are the directories, besides the workspace, that graphs may name.
	AllowedDirs []string `json:"allowed_dirs"`
}

// settingAllowedDirs is the storage setting that holds Settings.AllowedDirs.
const settingAllowedDirs = "allowed_dirs"

// ErrPathNotAllowed is wrapped by the problems of paths outside the studio's directories.
var ErrPathNotAllowed = errors.New("outside the workspace and the directories added in Settings")

// GetSettings returns the workspace and the directories the user added.
func (s *Service) GetSettings() (Settings, error) {
	dirs, err := s.allowedDirs()
	if err != nil {
		return Settings{}, err
	}
	return Settings{Workspace: s.workspace(), AllowedDirs: dirs}, nil
}

// SetAllowedDirs replaces the directories, besides the workspace, that the studio's graphs may
// read and write in. Each must be an absolute path to an existing directory; duplicates are
// dropped.
func (s *Service) SetAllowedDirs(dirs []string) (Settings, error) {
	clean := []string{}
	seen := map[string]bool{}
	for _, d := range dirs {
		d = strings.TrimSpace(d)
		if !filepath.IsAbs(d) {
			return Settings{}, fmt.Errorf("allowed directory %q: want an absolute path: %w", d, ErrInvalid)
		}
		d = filepath.Clean(d)
		st, err := os.Stat(d)
		if err != nil {
			return Settings{}, fmt.Errorf("allowed directory %q: %w: %w", d, err, ErrInvalid)
		}
		if !st.IsDir() {
			return Settings{}, fmt.Errorf("allowed directory %q is not a directory: %w", d, ErrInvalid)
		}
		if !seen[d] {
			seen[d] = true
			clean = append(clean, d)
		}
	}
	if err := s.store.SetSetting(s.ctx, settingAllowedDirs, clean); err != nil {
		return Settings{}, err
	}
	return s.GetSettings()
}

func (s *Service) allowedDirs() ([]string, error) {
	dirs := []string{}
	err := s.store.GetSetting(s.ctx, settingAllowedDirs, &dirs)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	return dirs, nil
}

// workspace is the studio's workspace: Options.Workspace, else BaseDir.
func (s *Service) workspace() string {
	if s.opts.Workspace != "" {
		return s.opts.Workspace
	}
	return s.opts.BaseDir
}

// pathPolicy returns the policy that confines the paths of a graph run or validated now: a
// path (relative ones against BaseDir, as the nodes open them) must resolve, symbolic links
// followed, inside one of the roots: the workspace, the directories that links at the top of
// the workspace point to (the studio links the examples' functions and the shared test data
// there), and the directories added in the settings. An asset's SHA-256 that is in the store
// passes.
func (s *Service) pathPolicy() (engine.PathPolicy, error) {
	added, err := s.allowedDirs()
	if err != nil {
		return nil, err
	}
	var roots []string
	addRoot := func(d string) {
		if r, err := filepath.EvalSymlinks(d); err == nil {
			roots = append(roots, r)
		} else if abs, err := filepath.Abs(d); err == nil {
			roots = append(roots, abs) // not there yet: nothing in it can be a link
		}
	}
	ws := s.workspace()
	if ws != "" {
		addRoot(ws)
		entries, _ := os.ReadDir(ws)
		for _, e := range entries {
			if e.Type()&fs.ModeSymlink == 0 {
				continue
			}
			if st, err := os.Stat(filepath.Join(ws, e.Name())); err == nil && st.IsDir() {
				addRoot(filepath.Join(ws, e.Name()))
			}
		}
	}
	for _, d := range added {
		addRoot(d)
	}
	base := s.opts.BaseDir
	if base == "" {
		base, _ = os.Getwd()
	}
	return func(value string) error {
		if isSHA256(value) {
			if _, err := s.store.AssetPath(s.ctx, value); err == nil {
				return nil
			}
		}
		p := value
		if !filepath.IsAbs(p) {
			p = filepath.Join(base, p) // as the nodes and the asset resolver join it
		}
		resolved, err := resolveLinks(p)
		if err != nil {
			return fmt.Errorf("path %q: %w", value, err)
		}
		for _, r := range roots {
			if within(resolved, r) {
				return nil
			}
		}
		where := "no workspace"
		if ws != "" {
			where = "the workspace " + ws
		}
		shown := ""
		if resolved != value {
			shown = fmt.Sprintf(" (%s)", resolved)
		}
		return fmt.Errorf("path %q%s is outside %s and the directories added in Settings: the studio reads and writes only there (add the directory in Settings, or run the graph with `atoll run`): %w",
			value, shown, where, ErrPathNotAllowed)
	}, nil
}

// within reports whether p is root or below it.
func within(p, root string) bool {
	if p == root {
		return true
	}
	if !strings.HasSuffix(root, string(filepath.Separator)) {
		root += string(filepath.Separator)
	}
	return strings.HasPrefix(p, root)
}

// resolveLinks returns the path the system opens for the absolute path p: each component in
// turn, following symbolic links, and ".." applied to what has been resolved so far (as the
// kernel does: "link/.." is the parent of the link's target, not the link's directory). From
// the first component that does not exist, the rest is taken as written: nothing below it can
// be a link yet.
func resolveLinks(p string) (string, error) {
	vol := filepath.VolumeName(p)
	rootDir := vol + string(filepath.Separator)
	cur := rootDir
	todo := splitPath(p[len(vol):])
	for links := 0; len(todo) > 0; {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, c)
		st, err := os.Lstat(next)
		if errors.Is(err, fs.ErrNotExist) {
			return filepath.Join(append([]string{next}, todo...)...), nil
		}
		if err != nil {
			return "", err
		}
		if st.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if links++; links > 255 {
			return "", fmt.Errorf("too many symbolic links at %s", next)
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", err
		}
		if filepath.IsAbs(target) {
			tv := filepath.VolumeName(target)
			cur = tv + string(filepath.Separator)
			target = target[len(tv):]
		}
		todo = append(splitPath(target), todo...)
	}
	return cur, nil
}

func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(filepath.ToSlash(p), "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}
