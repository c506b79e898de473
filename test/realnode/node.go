// Package realnode starts a node from real parts beside a test/kube
// control plane: containerd (with its CRI plugin) and runc from Debian, the
// CNI bridge from Debian's containernetworking-plugins, and the kubelet and
// kube-scheduler built from the pinned k8s.io/kubernetes module. The sandbox
// image is a static Go binary pushed to a registry of the test's: no image
// comes from outside.
package realnode

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/kube"
)

// Options say how the node is set up.
type Options struct {
	// Name is the node's name; the cluster must have been started
	// kube.WithNode(Name).
	Name string
	// SandboxImage is the pause image, in a registry that needs no login.
	SandboxImage string
	// PlainHTTPHosts are registries the node reaches over plain HTTP.
	PlainHTTPHosts []string
	// CredentialProviderConfig and CredentialProviderBinDir, when set, are
	// the kubelet's image credential provider flags.
	CredentialProviderConfig, CredentialProviderBinDir string
	// NodeIP and ClusterDNS are for a node in a cluster network of its own
	// (test/cluster): its address, and the DNS Service's IP its pods use.
	NodeIP, ClusterDNS string
	// RootDir is the kubelet's --root-dir, Dir/kubelet when empty. A
	// cluster in a mount namespace of its own uses /var/lib/kubelet, where
	// config/'s DaemonSets find it.
	RootDir string
}

// Node is a running node.
type Node struct {
	Name string
	// rootDir is the kubelet's --root-dir.
	rootDir string
	// Dir holds the node's files: containerd's, the kubelet's root
	// (Dir/kubelet), and the logs.
	Dir string
	// ContainerdSocket is containerd's socket.
	ContainerdSocket string
	// KubeletLog is the kubelet's log, the first thing to read when a pod
	// does not start.
	KubeletLog string
}

// KubeletRootDir is the kubelet's --root-dir: its plugins and
// plugins_registry directories are under it.
func (n *Node) KubeletRootDir() string { return n.rootDir }

// PodLogsDir is the kubelet's podLogsDir: <namespace>_<pod>_<uid>/<container>/<n>.log.
func (n *Node) PodLogsDir() string { return filepath.Join(n.Dir, "pod-logs") }

// AddPlainHTTPHost makes the node reach host over plain HTTP from its next pull.
func (n *Node) AddPlainHTTPHost(t harness.T, host string) {
	writePlainHTTPHost(t, n.Dir, host)
}

// ForgetImages removes every image but those whose name contains keep, and
// the content and snapshots only they used, so the next pull is cold. No
// pod may be running: the containers of deleted pods go first (the kubelet
// removes them lazily, and their snapshots would keep the layers).
func (n *Node) ForgetImages(keep string) {
	// As in ForgetImage: the kubelet first, or it may start a container
	// again and pull once more.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && n.hasContainersOf(""); {
		time.Sleep(100 * time.Millisecond)
	}
	killContainers(n.ContainerdSocket)
	var remove []string
	for _, ref := range strings.Fields(ctr(n.ContainerdSocket, "images", "ls", "-q")) {
		if !strings.Contains(ref, keep) {
			remove = append(remove, ref)
		}
	}
	if len(remove) > 0 {
		ctr(n.ContainerdSocket, append([]string{"images", "rm", "--sync"}, remove...)...)
	}
}

// hasContainersOf says whether a container made from an image whose name
// contains ref is on the node.
func (n *Node) hasContainersOf(ref string) bool {
	for _, line := range strings.Split(ctr(n.ContainerdSocket, "containers", "ls"), "\n")[1:] {
		if f := strings.Fields(line); len(f) >= 2 && strings.Contains(f[1], ref) {
			return true
		}
	}
	return false
}

// ForgetImage removes the images whose name contains ref, and the
// containers made from them (a deleted pod's go lazily, and would keep the
// layers), so that the next pull of ref is cold while every other pod of
// the node keeps running.
func (n *Node) ForgetImage(ref string) {
	// The kubelet removes a deleted pod's containers itself, soon. Killing
	// one before it does races it: the kubelet may start the container
	// again, pulling the image once more (seen in the bench as a sixth
	// pull in five starts, and as a warm start).
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && n.hasContainersOf(ref); {
		time.Sleep(100 * time.Millisecond)
	}
	for _, line := range strings.Split(ctr(n.ContainerdSocket, "containers", "ls"), "\n")[1:] {
		if f := strings.Fields(line); len(f) >= 2 && strings.Contains(f[1], ref) {
			ctr(n.ContainerdSocket, "tasks", "kill", "--signal", "SIGKILL", f[0])
			ctr(n.ContainerdSocket, "tasks", "delete", "--force", f[0])
			ctr(n.ContainerdSocket, "containers", "delete", f[0])
		}
	}
	// The CRI plugin names each image by its ID (sha256:...) too: every
	// name of the same manifest goes, or the content stays.
	rows := strings.Split(ctr(n.ContainerdSocket, "images", "ls"), "\n")[1:]
	digests := map[string]bool{}
	for _, row := range rows {
		if f := strings.Fields(row); len(f) >= 3 && strings.Contains(f[0], ref) {
			digests[f[2]] = true
		}
	}
	var remove []string
	for _, row := range rows {
		if f := strings.Fields(row); len(f) >= 3 && digests[f[2]] {
			remove = append(remove, f[0])
		}
	}
	if len(remove) > 0 {
		ctr(n.ContainerdSocket, append([]string{"images", "rm", "--sync"}, remove...)...)
	}
}

// Start runs containerd, the kubelet and kube-scheduler, and waits for the
// node to be Ready.
func Start(t harness.T, cluster *kube.Cluster, o Options) *Node {
	t.Helper()
	dir, err := os.MkdirTemp("", "realnode-")
	if err != nil {
		t.Fatalf("%v", err)
	}
	// Mounts the kubelet made (volumes, CSI targets) go before the files.
	t.Cleanup(func() {
		harness.UnmountUnder(dir)
		_ = os.RemoveAll(dir)
	})
	n := &Node{Name: o.Name, Dir: dir, rootDir: o.RootDir}
	if n.rootDir == "" {
		n.rootDir = filepath.Join(dir, "kubelet")
	}
	for _, h := range o.PlainHTTPHosts {
		n.AddPlainHTTPHost(t, h)
	}
	n.ContainerdSocket = startContainerd(t, dir, o.SandboxImage, "rn0", "10.88.0.0/16")
	kubelet := harness.StartProcess(t, harness.Bin(t, "kubelet"),
		kubeletArgs(t, dir, n.rootDir, o.Name, cluster.NodeKubeconfig(t, o.Name), n.ContainerdSocket, o), nil)
	n.KubeletLog = kubelet.LogPath
	harness.StartProcess(t, harness.Bin(t, "kube-scheduler"), []string{
		"--kubeconfig=" + cluster.Kubeconfig,
		"--authentication-kubeconfig=" + cluster.Kubeconfig,
		"--authorization-kubeconfig=" + cluster.Kubeconfig,
		"--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=0",
	}, nil)
	harness.WaitFor(t, 2*time.Minute, "node "+o.Name+" Ready", func(ctx context.Context) (bool, string) {
		node, err := cluster.Client.CoreV1().Nodes().Get(ctx, o.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error() + "\n" + harness.Tail(kubelet.LogPath)
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue, fmt.Sprintf("%s: %s\n%s", c.Reason, c.Message, harness.Tail(kubelet.LogPath))
			}
		}
		return false, "no Ready condition"
	})
	return n
}
