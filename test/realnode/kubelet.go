package realnode

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/oci-connector/oci-connector/test/harness"
)

// kubeletConfig is what this machine needs of a kubelet: cgroup v1 allowed
// (failCgroupV1: false), no swap check, evictions only at the edge (the
// tests' disks are the machine's), everything on 127.0.0.1.
const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: %d
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
authorization:
  mode: AlwaysAllow
containerRuntimeEndpoint: unix://%s
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
resolvConf: ""
podLogsDir: %s
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 1Mi
  nodefs.available: "1%%"
  imagefs.available: "1%%"
  nodefs.inodesFree: "1%%"
syncFrequency: 10s
clusterDomain: cluster.local
`

// kubeletArgs writes the kubelet's configuration under dir and returns its
// flags.
func kubeletArgs(t harness.T, dir, rootDir, name, kubeconfig, containerdSocket string, o Options) []string {
	t.Helper()
	cfg := fmt.Sprintf(kubeletConfig, harness.FreePort(t), containerdSocket, filepath.Join(dir, "pod-logs"))
	if o.ClusterDNS != "" {
		cfg += fmt.Sprintf("clusterDNS: [%q]\n", o.ClusterDNS)
	}
	cfgPath := filepath.Join(dir, "kubelet.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatalf("%v", err)
	}
	args := []string{
		"--config=" + cfgPath,
		"--kubeconfig=" + kubeconfig,
		"--root-dir=" + rootDir,
		"--cert-dir=" + filepath.Join(dir, "kubelet-pki"),
		"--hostname-override=" + name,
		"--v=" + strconv.Itoa(1),
	}
	if o.NodeIP != "" {
		args = append(args, "--node-ip="+o.NodeIP)
	}
	if o.CredentialProviderConfig != "" {
		args = append(args,
			"--image-credential-provider-config="+o.CredentialProviderConfig,
			"--image-credential-provider-bin-dir="+o.CredentialProviderBinDir)
	}
	return args
}
