package realnode

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/oci-connector/oci-connector/test/harness"
)

// PushGoImage builds a package of this repository as a static binary and
// pushes it to ref as a one-layer image whose entrypoint it is: what ko
// does, with no base image, so nothing comes from outside.
func PushGoImage(t harness.T, pkg, ref string, auth authn.Authenticator) {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatalf("%v", err)
	}
	PushBinaryImage(t, BuildStatic(t, root, pkg), ref, auth)
}

// BuildStatic builds pkg in the module at dir with cgo off, so the binary
// needs nothing from an image but itself.
func BuildStatic(t harness.T, dir, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), path.Base(pkg))
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// PushBinaryImage pushes a static binary as a one-layer image at /<name>,
// its entrypoint.
func PushBinaryImage(t harness.T, bin, ref string, auth authn.Authenticator, args ...string) {
	t.Helper()
	raw, err := os.ReadFile(bin)
	if err != nil {
		t.Fatalf("%v", err)
	}
	entry := "/" + filepath.Base(bin)
	PushLayerImage(t, ref, []ImageFile{{Name: entry[1:], Mode: 0o755, Body: raw}},
		v1.Config{Entrypoint: []string{entry}, Cmd: args}, auth)
}

// ImageFile is a file of a one-layer image, or a directory when its Name
// ends in a slash.
type ImageFile struct {
	Name string
	Mode int64
	Body []byte
}

// PushLayerImage pushes an image of one layer holding files, with config,
// for this machine's platform.
func PushLayerImage(t harness.T, ref string, files []ImageFile, config v1.Config, auth authn.Authenticator) {
	t.Helper()
	var layerTar bytes.Buffer
	tw := tar.NewWriter(&layerTar)
	for _, f := range files {
		h := &tar.Header{Name: f.Name, Mode: f.Mode, Size: int64(len(f.Body)), Typeflag: tar.TypeReg}
		if strings.HasSuffix(f.Name, "/") {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("%v", err)
		}
		if _, err := tw.Write(f.Body); err != nil {
			t.Fatalf("%v", err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("%v", err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar.Bytes())), nil
	})
	if err != nil {
		t.Fatalf("%v", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatalf("%v", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("%v", err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", runtime.GOARCH
	cfg.Config = config
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatalf("%v", err)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatalf("%v", err)
	}
	if err := remote.Write(r, img, remote.WithAuth(auth)); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
}

// AppendRandomLayer adds a layer of size random bytes to the image at ref,
// so that pulling it takes time worth measuring.
func AppendRandomLayer(t harness.T, ref string, size int64, auth authn.Authenticator) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatalf("%v", err)
	}
	img, err := remote.Image(r, remote.WithAuth(auth))
	if err != nil {
		t.Fatalf("reading %s: %v", ref, err)
	}
	layer, err := random.Layer(size, types.DockerLayer)
	if err != nil {
		t.Fatalf("%v", err)
	}
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		t.Fatalf("%v", err)
	}
	if err := remote.Write(r, img, remote.WithAuth(auth)); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
}
