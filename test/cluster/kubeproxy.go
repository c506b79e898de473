package cluster

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/oci-connector/oci-connector/test/harness"
)

// kubeProxyConfig is kube-proxy in iptables mode for the pod network.
// masqueradeAll makes a pod that reaches a Service backed by a pod on the
// same bridge work without br_netfilter: the reply comes back through the
// node, where the connection's NAT is undone. Conntrack sysctls are left as
// the kernel has them (they are not the namespace's to set).
const kubeProxyConfig = `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: %s
hostnameOverride: %s
mode: iptables
clusterCIDR: %s
iptables:
  masqueradeAll: true
  syncPeriod: 30s
  minSyncPeriod: 0s
conntrack:
  maxPerCore: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
`

// startKubeProxy runs kube-proxy, built from the pinned k8s.io/kubernetes,
// on the node.
func (c *Cluster) startKubeProxy(t harness.T) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "kube-proxy.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, kubeProxyConfig, c.Kube.Kubeconfig, NodeName, PodCIDR), 0o600); err != nil {
		t.Fatalf("%v", err)
	}
	harness.StartProcess(t, harness.Bin(t, "kube-proxy"), []string{"--config=" + cfg, "--v=1"}, nil)
}
