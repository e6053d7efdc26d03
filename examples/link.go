package examples

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Checkout returns the examples directory of an Atoll checkout, for copies of the examples to
// link what is not embedded: $ATOLL_EXAMPLES when set, else the examples/ beside the directory
// of the running executable (bin/atoll in a checkout), else ./examples. It returns "" when none
// of them has graphs/ and functions/.
func Checkout() string {
	var dirs []string
	if d := os.Getenv("ATOLL_EXAMPLES"); d != "" {
		dirs = append(dirs, d)
	}
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			dirs = append(dirs, filepath.Join(filepath.Dir(filepath.Dir(exe)), "examples"))
		}
	}
	dirs = append(dirs, "examples")
	for _, d := range dirs {
		if isDir(filepath.Join(d, "graphs")) && isDir(filepath.Join(d, "functions")) {
			if abs, err := filepath.Abs(d); err == nil {
				return abs
			}
		}
	}
	return ""
}

// Link makes a copy of the examples in dst (see FS) complete: dst/functions links to the
// checkout's functions/ (sources and the modules `make wasm-examples` builds) and dst/testdata
// to the shared test data ($ATOLL_TESTDATA, else where the checkout's testdata link points). A link that exists and points
// elsewhere is replaced (the checkout may have moved); a real file or directory is left alone.
// It returns what is still missing, e.g. when the test data is not beside the checkout, so the
// caller can say which examples will not run.
func Link(dst, checkout string) (missing []string, err error) {
	for _, name := range []string{"functions", "testdata"} {
		src := filepath.Join(checkout, name)
		if d := os.Getenv("ATOLL_TESTDATA"); name == "testdata" && d != "" {
			src = d
		}
		target, err := filepath.EvalSymlinks(src)
		if err != nil || !isDir(target) {
			missing = append(missing, src)
			continue
		}
		link := filepath.Join(dst, name)
		cur, err := os.Readlink(link)
		switch {
		case err == nil && cur == target:
			continue
		case err == nil:
			if err := os.Remove(link); err != nil {
				return missing, err
			}
		case errors.Is(err, fs.ErrNotExist):
		default:
			if _, statErr := os.Lstat(link); statErr == nil {
				continue // a real directory the user made: theirs
			}
			return missing, err
		}
		if err := os.Symlink(target, link); err != nil {
			return missing, fmt.Errorf("link the examples' %s: %w", name, err)
		}
	}
	return missing, nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
