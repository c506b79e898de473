package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/oci-connector/oci-connector/test/realnode"
)

// The private network every cluster of this package lives in.
const (
	// netnsPrefix names this project's network namespaces: a killed run's
	// are found by it and deleted by the next run.
	netnsPrefix = "ocic-"
	// insideEnv is set in the re-executed process: it runs in the namespace.
	insideEnv = "OCI_CONNECTOR_NETNS"
	// NodeIP is the node's address: the API server advertises it, the
	// kubelet and kube-proxy run on it.
	NodeIP = "192.168.50.10"
	// PodCIDR and ServiceCIDR exist only inside the namespace.
	PodCIDR     = "10.88.0.0/16"
	ServiceCIDR = "10.96.0.0/16"
	// DNSServiceIP is the kube-dns Service's ClusterIP.
	DNSServiceIP = "10.96.0.10"
)

// Netns is the name of the network namespace this process runs in, or ""
// outside one.
func Netns() string { return os.Getenv(insideEnv) }

// RunInNetns runs this same program again inside a network namespace of its
// own, with the same arguments, and returns its exit code; the namespace is
// deleted after it, with every process left in it. Inside the namespace
// (Netns() != ""), it returns -1 at once and the caller goes on. The
// program sees the cluster's DNS in its resolv.conf, as do programs run
// with `ip netns exec <name>` (both read /etc/netns/<name>/).
func RunInNetns() int {
	if Netns() != "" {
		return -1
	}
	removeStaleNetns()
	before := realnode.NetworkNamespaces()
	name := netnsPrefix + strconv.Itoa(os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "creating network namespace %s: %v\n%s", name, err, out)
		return 1
	}
	defer deleteNetns(name)
	// The CNI plugins name each pod's namespace under /run/netns, which the
	// run shares with the machine; a run cut short leaves them behind.
	defer realnode.RemovePodNamespaces(before)
	etc := filepath.Join("/etc/netns", name)
	if err := os.MkdirAll(etc, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	resolv := fmt.Sprintf("nameserver %s\nsearch svc.cluster.local cluster.local\noptions ndots:5\n", DNSServiceIP)
	hosts := "127.0.0.1 localhost\n" + NodeIP + " node-1\n"
	if err := os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte(resolv), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.WriteFile(filepath.Join(etc, "hosts"), []byte(hosts), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Not `ip netns exec`: it mounts a sysfs of the namespace over /sys,
	// which hides the cgroup hierarchies the kubelet needs. The process
	// joins the network namespace and a mount namespace of its own, where
	// the cluster's resolv.conf and hosts are bound over the machine's.
	// Mounts are shared within the namespace (the CSI DaemonSet's
	// Bidirectional propagation needs it) and private to it.
	script := fmt.Sprintf(`mount --make-rshared / && mount --bind %s/resolv.conf /etc/resolv.conf && mount --bind %s/hosts /etc/hosts && exec "$@"`, etc, etc)
	cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/" + name, "--",
		"unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh", self}, os.Args[1:]...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), insideEnv+"="+name)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// nsenter, unshare and sh each exec the next: the process is the
	// program itself, and an interrupt reaches it to run its cleanups.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		for s := range sig {
			_ = cmd.Process.Signal(s)
		}
	}()
	defer signal.Stop(sig)
	if err := cmd.Wait(); err != nil {
		if exit, ok := err.(*exec.ExitError); ok {
			return exit.ExitCode()
		}
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// deleteNetns kills what still runs in the namespace (containers, shims),
// then deletes it and its /etc/netns files.
func deleteNetns(name string) {
	out, _ := exec.Command("ip", "netns", "pids", name).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	_ = exec.Command("ip", "netns", "delete", name).Run()
	_ = os.RemoveAll(filepath.Join("/etc/netns", name))
}

// removeStaleNetns deletes the namespaces of runs whose process is gone.
func removeStaleNetns() {
	for n := range realnode.NetworkNamespaces() {
		if !strings.HasPrefix(n, netnsPrefix) {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimPrefix(n, netnsPrefix))
		if err != nil {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			deleteNetns(n)
		}
	}
}

// setUpNetwork gives the namespace what a node's network has: loopback up,
// the node's address on an interface of its own with the default route
// (so the node's own traffic to Service IPs is routed, then rewritten by
// kube-proxy), and forwarding on for the pods.
func setUpNetwork() error {
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		// No dummy interfaces in this kernel: a veth pair whose far end
		// stays in the namespace, unused, gives the node its interface.
		{"link", "add", "node0", "type", "veth", "peer", "name", "node0-peer"},
		{"addr", "add", NodeIP + "/24", "dev", "node0"},
		{"link", "set", "node0-peer", "up"},
		{"link", "set", "node0", "up"},
		{"route", "add", "default", "dev", "node0"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	for path, value := range map[string]string{
		"/proc/sys/net/ipv4/ip_forward":                "1",
		"/proc/sys/net/bridge/bridge-nf-call-iptables": "1",
		"/proc/sys/net/ipv4/conf/all/route_localnet":   "1",
	} {
		// The bridge's may be missing without br_netfilter; kube-proxy's
		// masquerade-all does not need it.
		_ = os.WriteFile(path, []byte(value), 0o644)
	}
	if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(string(b)) != "1" {
		return fmt.Errorf("IP forwarding is off in the namespace")
	}
	return nil
}
