// Package testdata locates the shared real-world test data (models, recordings) that lives
// outside the repository in ../shared/testdata, relative to the project root.
package testdata

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Root returns the absolute path of the shared test data directory. ATOLL_TESTDATA overrides it.
func Root() string {
	if d := os.Getenv("ATOLL_TESTDATA"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	// file is <root>/internal/testdata/testdata.go
	root := filepath.Dir(filepath.Dir(filepath.Dir(file)))
	return filepath.Join(root, "..", "shared", "testdata")
}

// Path returns the absolute path of rel inside the shared test data, failing the test loudly
// when it does not exist: conformance tests never pass silently for lack of data.
func Path(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(Root(), rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("test data %s is missing (set ATOLL_TESTDATA or provide ../shared/testdata): %v", p, err)
	}
	return p
}
