// Package harness is what the test parts share: the small slice of
// testing.TB they need, so that `make run` can start the same parts from a
// main program, and the paths of the repository and its built binaries.
package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// T is the part of testing.TB the harness uses; *testing.T satisfies it.
type T interface {
	Helper()
	TempDir() string
	Cleanup(func())
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
}

// RepoRoot is the directory of the oci-connector go.mod, found by walking up
// from the working directory (go test runs in the package's directory).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		raw, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(raw), "module github.com/oci-connector/oci-connector\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no oci-connector go.mod above the working directory")
		}
		dir = parent
	}
}

// Bin returns the path of a binary that `make tools` builds into .bin/, or
// fails t with how to build it.
func Bin(t T, name string) string {
	t.Helper()
	dir := os.Getenv("OCI_CONNECTOR_BIN")
	if dir == "" {
		root, err := RepoRoot()
		if err != nil {
			t.Fatalf("finding the repository: %v", err)
		}
		dir = filepath.Join(root, ".bin")
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing; run `make tools` (it builds the test binaries into .bin/)", path)
	}
	return path
}
