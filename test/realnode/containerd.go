package realnode

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/oci-connector/oci-connector/test/harness"
)

// cniConfig is Debian's CNI bridge with host-local addresses: pods get an
// address on a bridge of their own, the host is their gateway.
const cniConfig = `{
  "cniVersion": "1.0.0",
  "name": "realnode",
  "plugins": [
    {"type": "bridge", "bridge": "%s", "isGateway": true, "ipMasq": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "%s"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`

// startContainerd runs Debian's containerd with its CRI plugin, as the
// kubelet's runtime: the native snapshotter (overlayfs may be missing where
// tests run), OOM score changes left out (the tests may lack
// CAP_SYS_RESOURCE), registry hosts from certs.d under dir.
func startContainerd(t harness.T, dir, sandboxImage, bridge, subnet string) string {
	t.Helper()
	bin, err := exec.LookPath("containerd")
	if err != nil {
		t.Fatalf("containerd is not installed; .ci/run installs it (apt-get install containerd)")
	}
	before := readNetworkState(bridge)
	socket := filepath.Join(dir, "containerd.sock")
	cniDir := filepath.Join(dir, "cni")
	if err := os.MkdirAll(cniDir, 0o755); err != nil {
		t.Fatalf("%v", err)
	}
	if err := os.WriteFile(filepath.Join(cniDir, "10-realnode.conflist"), fmt.Appendf(nil, cniConfig, bridge, subnet), 0o644); err != nil {
		t.Fatalf("%v", err)
	}
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[ttrpc]
  address = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), socket, socket+".ttrpc", sandboxImage, cniDir, filepath.Join(dir, "certs.d"))
	cfgPath := filepath.Join(dir, "containerd.toml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatalf("%v", err)
	}
	srv := harness.StartProcess(t, bin, []string{"--config", cfgPath}, nil)
	harness.WaitFor(t, 30*time.Second, "containerd's socket", func(context.Context) (bool, string) {
		c, err := net.Dial("unix", socket)
		if err != nil {
			raw, _ := os.ReadFile(srv.LogPath)
			return false, err.Error() + "\n" + string(raw)
		}
		c.Close()
		return true, ""
	})
	// The kubelet is gone by now (cleanups run last first); what it left
	// running goes, so no container outlives the test, and neither do the
	// pods' network namespaces nor the bridge (cleanups run on failure too).
	t.Cleanup(func() {
		killContainers(socket)
		removeNetworkLeftovers(before, bridge)
	})
	return socket
}

// networkState is what of the host's network a run may add to: its network
// namespaces (ip netns) and whether the pods' bridge exists.
type networkState struct {
	namespaces map[string]bool
	bridge     bool
}

// readNetworkState reads it, before the node starts.
func readNetworkState(bridge string) networkState {
	return networkState{namespaces: NetworkNamespaces(), bridge: exec.Command("ip", "link", "show", bridge).Run() == nil}
}

// removeNetworkLeftovers deletes what the run added: the network
// namespaces of its pods, and the bridge if it made it.
func removeNetworkLeftovers(before networkState, bridge string) {
	RemovePodNamespaces(before.namespaces)
	if !before.bridge {
		_ = exec.Command("ip", "link", "delete", bridge).Run()
	}
}

// NetworkNamespaces are the network namespaces `ip netns` names (those
// under /run/netns).
func NetworkNamespaces() map[string]bool {
	names := map[string]bool{}
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		names[e.Name()] = true
	}
	return names
}

// RemovePodNamespaces deletes the network namespaces the CNI plugins made
// for pods (cni-...) that are not in before: a run's own, which outlive it
// when it is cut short. Namespaces of other runs are left alone.
func RemovePodNamespaces(before map[string]bool) {
	for name := range NetworkNamespaces() {
		if strings.HasPrefix(name, "cni-") && !before[name] {
			_ = exec.Command("ip", "netns", "delete", name).Run()
		}
	}
}

// ctr runs containerd's ctr in the kubelet's namespace; failures are
// ignored (what it removes may be gone already).
func ctr(socket string, args ...string) string {
	out, _ := exec.Command("ctr", append([]string{"--address", socket, "--namespace", "k8s.io"}, args...)...).Output()
	return string(out)
}

// killContainers kills and deletes every task and container of the
// kubelet's namespace.
func killContainers(socket string) {
	for _, id := range strings.Fields(ctr(socket, "tasks", "ls", "-q")) {
		ctr(socket, "tasks", "kill", "--signal", "SIGKILL", id)
		ctr(socket, "tasks", "delete", "--force", id)
	}
	for _, id := range strings.Fields(ctr(socket, "containers", "ls", "-q")) {
		ctr(socket, "containers", "delete", id)
	}
}

// writePlainHTTPHost makes containerd reach host over plain HTTP.
func writePlainHTTPHost(t harness.T, dir, host string) {
	t.Helper()
	hostDir := filepath.Join(dir, "certs.d", host)
	if err := os.MkdirAll(hostDir, 0o755); err != nil {
		t.Fatalf("%v", err)
	}
	toml := fmt.Sprintf("server = %q\n\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", "http://"+host, "http://"+host)
	if err := os.WriteFile(filepath.Join(hostDir, "hosts.toml"), []byte(toml), 0o644); err != nil {
		t.Fatalf("%v", err)
	}
}
