package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oci-connector/oci-connector/test/registry"
)

// startContainerd runs containerd (Debian's package) with all its state in a
// temporary directory and no CRI plugin, and returns its socket.
func startContainerd(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("containerd")
	if err != nil {
		t.Fatal("containerd is not installed; .ci/run installs it (apt-get install containerd)")
	}
	dir := t.TempDir()
	socket := filepath.Join(dir, "containerd.sock")
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), socket, socket+".ttrpc")
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logFile.Close()
	})
	waitFor(t, "containerd's socket", func(context.Context) (bool, string) {
		c, err := net.Dial("unix", socket)
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, ""
	})
	return socket
}

// containerd pulls and unpacks through the proxy with `ctr --user u:<token>`,
// as a node would with a ServiceAccount token for a password.
func TestProxyWithContainerd(t *testing.T) {
	ctr, err := exec.LookPath("ctr")
	if err != nil {
		t.Fatal("ctr is not installed; .ci/run installs containerd")
	}
	socket := startContainerd(t)
	reg := registry.NewHtpasswd(t)
	s := setupProxy(t, reg, "proxy-containerd")

	image := s.proxy.Host + "/" + registry.SeedRepository + ":" + registry.SeedTag
	out := runTool(t, nil, ctr, "--address", socket, "images", "pull", "--plain-http", "--snapshotter", "native",
		"--user", "u:"+s.puller, image)
	if !strings.Contains(out, "done") {
		t.Fatalf("ctr pull said: %s", out)
	}
	list := runTool(t, nil, ctr, "--address", socket, "images", "ls")
	if !strings.Contains(list, image) || !strings.Contains(list, reg.SeedDigest) {
		t.Fatalf("the image is not in containerd: %s", list)
	}

	// Without a token containerd is refused, and says so.
	cmd := exec.Command(ctr, "--address", socket, "images", "pull", "--plain-http", "--snapshotter", "native",
		s.proxy.Host+"/"+registry.SeedRepository+":other")
	if msg, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(msg), "401") && !strings.Contains(strings.ToLower(string(msg)), "unauthorized") {
		t.Fatalf("an anonymous ctr pull was not refused: %v %s", err, msg)
	}
	assertNoPasswordInLog(t, s.proxy)
}
