package cluster

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/realnode"
)

// nonrootID is the user (and group) ko's usual base images run as.
const nonrootID = 65532

// pushBaseImage pushes the base image ko builds every image of the cluster
// onto, in place of a distroless static image from outside: the machine's
// CA bundle, a passwd naming the nonroot user, and a writable /tmp.
func pushBaseImage(t harness.T, ref string) {
	t.Helper()
	// A machine without a bundle gives an empty one: the cluster trusts no
	// public CA, and never reaches one.
	ca, _ := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	nonroot := strconv.Itoa(nonrootID)
	files := []realnode.ImageFile{
		{Name: "etc/", Mode: 0o755}, {Name: "etc/ssl/", Mode: 0o755}, {Name: "etc/ssl/certs/", Mode: 0o755},
		{Name: "home/", Mode: 0o755}, {Name: "home/nonroot/", Mode: 0o755}, {Name: "tmp/", Mode: 0o1777},
		{Name: "etc/passwd", Mode: 0o644, Body: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:" + nonroot + ":" + nonroot + ":nonroot:/home/nonroot:/sbin/nologin\n")},
		{Name: "etc/group", Mode: 0o644, Body: []byte("root:x:0:\nnonroot:x:" + nonroot + ":\n")},
		{Name: "etc/ssl/certs/ca-certificates.crt", Mode: 0o644, Body: ca},
	}
	realnode.PushLayerImage(t, ref, files, v1.Config{
		User: nonroot,
		Env:  []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
	}, authn.Anonymous)
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
