package deps

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/oci-connector/oci-connector/test/harness"
)

// ko reads .ko.yaml from the working directory unless KO_CONFIG_PATH says
// otherwise: a user's plain `ko apply -f config/` must find ko.yaml's
// builds, base image and platforms there.
func TestKoFindsItsConfiguration(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(root, "ko.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, ".ko.yaml"))
	if err != nil {
		t.Fatalf("ko would find no configuration: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Error(".ko.yaml is not ko.yaml: a plain ko run would build with other settings than the documented ones")
	}
}
