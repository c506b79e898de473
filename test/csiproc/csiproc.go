// Package csiproc runs the CSI driver binary as config/700-csi-driver.yaml
// runs it: its arguments and environment, as its ServiceAccount with the
// shipped RBAC, for one node, on a socket in a temporary directory.
package csiproc

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/kube"
	"github.com/oci-connector/oci-connector/test/shipped"
)

// Proc is a running driver.
type Proc struct {
	// Socket is the CSI endpoint's path.
	Socket string
	// Node is the kubelet's end of the socket.
	Node    csi.NodeClient
	Conn    *grpc.ClientConn
	LogPath string
	// Dir is the driver's temporary directory; mounts under it are undone
	// at cleanup.
	Dir string
}

// Start runs the driver for nodeName against cluster, which must hold the
// Connector CRD and config/'s CSI RBAC, and waits until it answers Probe.
// extraArgs come after the shipped ones.
func Start(t harness.T, cluster *kube.Cluster, nodeName string, extraArgs ...string) *Proc {
	t.Helper()
	w := shipped.Load(t, "700-csi-driver.yaml", "oci-connector-csi")
	w.NodeName = nodeName
	dir := t.TempDir()
	// Whatever a failed test left mounted goes before the directory does.
	t.Cleanup(func() { harness.UnmountUnder(dir) })
	socket := filepath.Join(dir, "csi.sock")
	args := append(w.Args(), "--endpoint=unix://"+socket, "--state-dir="+filepath.Join(dir, "state"),
		"--kubeconfig="+cluster.KubeconfigAs(t, w.Namespace, w.ServiceAccount()))
	args = append(args, extraArgs...)
	srv := harness.StartProcess(t, harness.GoBinary(t, "./node/csi"), args, w.Env(t, nil, dir))
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { conn.Close() })
	harness.WaitFor(t, 60*time.Second, "the CSI driver's Probe", func(ctx context.Context) (bool, string) {
		resp, err := csi.NewIdentityClient(conn).Probe(ctx, &csi.ProbeRequest{})
		if err != nil {
			raw, _ := os.ReadFile(srv.LogPath)
			return false, err.Error() + "\n" + string(raw)
		}
		return resp.GetReady().GetValue(), ""
	})
	return &Proc{Socket: socket, Node: csi.NewNodeClient(conn), Conn: conn, LogPath: srv.LogPath, Dir: dir}
}
