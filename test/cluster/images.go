package cluster

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/oci-connector/oci-connector/test/harness"
)

// nonroot is the user ko's usual base images run as.
const nonroot = "65532"

// pushBaseImage pushes the base image ko builds every image of the cluster
// onto, in place of a distroless static image from outside: the machine's
// CA bundle, a passwd naming the nonroot user, and a writable /tmp.
func pushBaseImage(t harness.T, ref string) {
	t.Helper()
	ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		ca = nil // a machine without a bundle: the cluster trusts no public CA, which it never reaches
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"etc/", "etc/ssl/", "etc/ssl/certs/", "home/", "home/nonroot/"} {
		_ = tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755})
	}
	_ = tw.WriteHeader(&tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777})
	files := map[string]string{
		"etc/passwd":                        "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
		"etc/group":                         "root:x:0:\nnonroot:x:65532:\n",
		"etc/ssl/certs/ca-certificates.crt": string(ca),
	}
	for _, n := range []string{"etc/passwd", "etc/group", "etc/ssl/certs/ca-certificates.crt"} {
		body := files[n]
		if err := tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatalf("%v", err)
		}
		_, _ = tw.Write([]byte(body))
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("%v", err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
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
	cfg.Config = v1.Config{
		User: nonroot,
		Env:  []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
	}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatalf("%v", err)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatalf("%v", err)
	}
	if err := remote.Write(r, img, remote.WithAuth(authn.Anonymous)); err != nil {
		t.Fatalf("pushing the base image %s: %v", ref, err)
	}
}

// Ko runs ko, built into .bin/, as a user installs with it: `ko resolve`
// of files in the module at dir, images pushed under repo onto the
// cluster's base image, for this machine's platform only. The module cache
// must hold every module (the namespace cannot reach the module proxy).
func (c *Cluster) Ko(t harness.T, dir, repo string, files ...string) string {
	t.Helper()
	args := []string{"resolve", "--platform=linux/" + runtime.GOARCH, "--base-import-paths", "--sbom=none", "--insecure-registry"}
	for _, f := range files {
		args = append(args, "-f", f)
	}
	cmd := exec.Command(harness.Bin(t, "ko"), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"KO_DOCKER_REPO="+c.Registry.Host+"/"+repo,
		"KO_DEFAULTBASEIMAGE="+c.BaseImage,
		"GOPROXY=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ko resolve in %s (%s): %v\n%s", dir, strings.Join(files, ", "), err, tail(stderr.String(), 4000))
	}
	return stdout.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return fmt.Sprintf("...%s", s[len(s)-n:])
	}
	return s
}
