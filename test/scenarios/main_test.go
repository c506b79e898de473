// Package scenarios runs the seeds' scenarios on a private cluster
// (test/cluster) with Knative Serving for real: oci-connector is installed
// with ko from config/, each Connector's proxy is a Knative revision that
// Knative makes Ready, and the kubelet, containerd and runc on the node
// pull and push through the Connector's status.url, served by Traefik and
// Knative's queue-proxy (and its activator when a revision is at zero).
// The upstream registry and the node's own images come from registries of
// the test's on the node's address. The whole run is in a network
// namespace of its own (cluster.RunInNetns).
package scenarios

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeletconfigv1 "k8s.io/kubelet/config/v1"
	"sigs.k8s.io/yaml"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/reconcilers/connector/resources"
	privatecluster "github.com/oci-connector/oci-connector/test/cluster"
	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/kube"
	"github.com/oci-connector/oci-connector/test/realnode"
	"github.com/oci-connector/oci-connector/test/registry"
)

const (
	nodeName = privatecluster.NodeName
	// appRepository is the private image every scenario runs.
	appRepository = "team/app:v1"
	// clusterConnector is the cluster Connector oci-connector/harbor.
	clusterConnector = "harbor"
)

var (
	// pc is the private cluster; cluster its control plane and node its node.
	pc       *privatecluster.Cluster
	cluster  *kube.Cluster
	node     *realnode.Node
	upstream *registry.Registry
	// public holds what needs no login: the sandbox image, tool images.
	public *registry.Registry
	// clusterProxy serves the cluster Connector: its own audience and the node's.
	clusterProxy *connectorProxy
)

func TestMain(m *testing.M) {
	if code := privatecluster.RunInNetns(); code >= 0 {
		os.Exit(code)
	}
	r := &harness.Runner{}
	// The cluster Connector's URL is known before it exists: Knative names
	// it after its Knative Service, in the cluster's domain.
	clusterHost := resources.ServiceName(&v1alpha1.Connector{ObjectMeta: metav1.ObjectMeta{Name: clusterConnector}}) +
		"." + connectorapi.SystemNamespace + ".svc.cluster.local"
	credentialConfig, credentialBinDir := installCredentialProvider(r, clusterHost)
	pc = privatecluster.Start(r, privatecluster.Options{
		CredentialProviderConfig: credentialConfig,
		CredentialProviderBinDir: credentialBinDir,
	})
	cluster, node, public = pc.Kube, pc.Node, pc.Registry
	pc.Install(r)
	// The private registry, behind a password only the Connector holds, on
	// the node's address where the proxies' pods reach it.
	upstream = registry.NewHtpasswd(r, registry.WithListenIP(privatecluster.NodeIP))
	realnode.PushGoImage(r, "./test/realnode/pause", upstream.Host+"/"+appRepository, registry.RobotAuth())

	root, err := harness.RepoRoot()
	if err != nil {
		r.Fatalf("%v", err)
	}
	if out, err := cluster.Kubectl(r, "apply", "-f", filepath.Join(root, "config", "examples", "node", "kubelet-audience-rbac.yaml")); err != nil {
		r.Fatalf("the kubelet audience RBAC: %v\n%s", err, out)
	}
	clusterProxy = startConnector(r, connectorapi.SystemNamespace, clusterConnector)
	if clusterProxy.Host != clusterHost {
		r.Fatalf("the cluster Connector's URL is %s, not %s as the node's credential provider expects", clusterProxy.Host, clusterHost)
	}
	code := m.Run()
	// What Knative made of the install, for the log.
	if out, err := cluster.Kubectl(r, "get", "ksvc", "-A"); err == nil {
		r.Logf("kubectl get ksvc -A:\n%s", out)
	}
	r.Close()
	os.Exit(code)
}

// installCredentialProvider does what an admin does on each node: the
// binary under each provider's name, and the shipped example configuration
// with matchImages set to the cluster Connector's proxy host.
func installCredentialProvider(r *harness.Runner, proxyHost string) (config, binDir string) {
	root, err := harness.RepoRoot()
	if err != nil {
		r.Fatalf("%v", err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "config", "examples", "node", "credential-provider-config.yaml"))
	if err != nil {
		r.Fatalf("%v", err)
	}
	var cfg kubeletconfigv1.CredentialProviderConfig
	if err := yaml.UnmarshalStrict(raw, &cfg); err != nil {
		r.Fatalf("the example CredentialProviderConfig: %v", err)
	}
	binDir = r.TempDir()
	bin := harness.GoBinary(r, "./node/credentialprovider")
	for i, p := range cfg.Providers {
		built, err := os.ReadFile(bin)
		if err != nil {
			r.Fatalf("%v", err)
		}
		if err := os.WriteFile(filepath.Join(binDir, p.Name), built, 0o755); err != nil {
			r.Fatalf("%v", err)
		}
		if p.TokenAttributes != nil && p.TokenAttributes.ServiceAccountTokenAudience == v1alpha1.NodeAudience {
			cfg.Providers[i].MatchImages = []string{proxyHost}
		}
	}
	out, err := yaml.Marshal(map[string]any{"apiVersion": "kubelet.config.k8s.io/v1", "kind": "CredentialProviderConfig", "providers": cfg.Providers})
	if err != nil {
		r.Fatalf("%v", err)
	}
	config = filepath.Join(r.TempDir(), "credential-provider-config.yaml")
	if err := os.WriteFile(config, out, 0o600); err != nil {
		r.Fatalf("%v", err)
	}
	return config, binDir
}

// waitFor polls until cond holds, or fails t with the last state seen.
func waitFor(t *testing.T, what string, cond func(ctx context.Context) (bool, string)) {
	t.Helper()
	harness.WaitFor(t, 2*time.Minute, what, cond)
}

// kubeletLogTail is the end of the kubelet's log, for failure messages.
func kubeletLogTail() string {
	return "kubelet log:\n" + harness.Tail(node.KubeletLog)
}
