package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/registry"
)

// runTool runs a client binary and returns its standard output; a failure
// shows the command with tokens hidden.
func runTool(t *testing.T, env []string, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(bin), redactTokens(args), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// dockerConfig writes a config.json logging in to host as u:<token>, as
// `docker login` would, and returns its directory.
func dockerConfig(t *testing.T, host, token string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := map[string]any{"auths": map[string]any{host: map[string]string{
		"auth": base64.StdEncoding.EncodeToString([]byte("u:" + token)),
	}}}
	raw, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// crane copies a multi-arch index through the proxy and reads it back.
func TestProxyWithCrane(t *testing.T) {
	crane := harness.Bin(t, "crane")
	reg := registry.NewTokenAuth(t)
	s := setupProxy(t, reg, "proxy-crane")

	// The index starts upstream, put there directly.
	idx, err := random.Index(2048, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	direct, _ := name.ParseReference(reg.Host+"/testing/multi:v1", name.Insecure)
	if err := remote.WriteIndex(direct, idx, remote.WithAuth(registry.RobotAuth())); err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()

	env := []string{"DOCKER_CONFIG=" + dockerConfig(t, s.proxy.Host, s.pusher)}
	runTool(t, env, crane, "copy", "--insecure", s.proxy.Host+"/testing/multi:v1", s.proxy.Host+"/testing/multi-copy:v1")
	got := strings.TrimSpace(runTool(t, env, crane, "digest", "--insecure", s.proxy.Host+"/testing/multi-copy:v1"))
	if got != want.String() {
		t.Fatalf("crane copied %s, want %s", got, want)
	}
	manifest := runTool(t, env, crane, "manifest", "--insecure", s.proxy.Host+"/testing/multi-copy:v1")
	if !strings.Contains(manifest, `"manifests"`) {
		t.Fatalf("the copy is not an index: %s", manifest)
	}
	assertNoPasswordInLog(t, s.proxy)
}

// regctl pushes a blob in chunks and attaches a referrer, through the proxy.
func TestProxyWithRegctl(t *testing.T) {
	regctl := harness.Bin(t, "regctl")
	reg := registry.NewHtpasswd(t)
	s := setupProxy(t, reg, "proxy-regctl")

	// A regctl configuration that logs in as the pusher and uploads every
	// blob over 1 byte in 1 MiB chunks.
	home := t.TempDir()
	cfg := map[string]any{"hosts": map[string]any{s.proxy.Host: map[string]any{
		"tls": "disabled", "user": "u", "pass": s.pusher, "blobChunk": 1 << 20, "blobMax": 1,
	}}}
	raw, _ := json.Marshal(cfg)
	if err := os.MkdirAll(filepath.Join(home, ".regctl"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".regctl", "config.json"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + home}

	data := make([]byte, 3<<20+123)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "data.bin")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ref := s.proxy.Host + "/testing/chunky:v1"
	runTool(t, env, regctl, "artifact", "put", "--artifact-type", "application/vnd.example.data", "-f", file, ref)
	if got := runTool(t, env, regctl, "artifact", "get", ref); got != string(data) {
		t.Fatalf("the artifact read back differs (%d bytes, want %d)", len(got), len(data))
	}
	// The 3 MiB blob went up in 1 MiB PATCHes, each through the proxy.
	logged, err := os.ReadFile(s.proxy.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	patches := 0
	for _, line := range strings.Split(string(logged), "\n") {
		if strings.Contains(line, `"method":"PATCH"`) && strings.Contains(line, `"repository":"testing/chunky"`) && strings.Contains(line, `"status":202`) {
			patches++
		}
	}
	if patches < 4 {
		t.Fatalf("the upload took %d PATCHes through the proxy, want at least 4 chunks of 1 MiB", patches)
	}

	sbom := filepath.Join(t.TempDir(), "sbom.json")
	if err := os.WriteFile(sbom, []byte(`{"spdxVersion":"SPDX-2.3"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	runTool(t, env, regctl, "artifact", "put", "--artifact-type", "application/spdx+json", "-f", sbom, "--subject", ref)
	list := runTool(t, env, regctl, "artifact", "list", ref, "--format", "{{jsonPretty .Manifest}}")
	if !strings.Contains(list, "application/spdx+json") {
		t.Fatalf("the referrer is not listed: %s", list)
	}
	assertNoPasswordInLog(t, s.proxy)
}
