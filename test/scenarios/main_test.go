// Package scenarios runs the seeds' scenarios on a node from real parts
// (test/realnode): the kubelet, containerd and runc pull and run pods
// through a Connector's proxy. The proxy runs as a plain process, not yet
// as a Knative revision: no Knative Serving runs here, and its Ready status
// is written by controlplane.MarkServiceReadyAt, the stand-in.
package scenarios

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeletconfigv1 "k8s.io/kubelet/config/v1"
	"knative.dev/pkg/apis"
	"sigs.k8s.io/yaml"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/reconcilers/connector"
	"github.com/oci-connector/oci-connector/reconcilers/connector/resources"
	"github.com/oci-connector/oci-connector/test/controlplane"
	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/kube"
	"github.com/oci-connector/oci-connector/test/proxyproc"
	"github.com/oci-connector/oci-connector/test/realnode"
	"github.com/oci-connector/oci-connector/test/registry"
)

const (
	nodeName = "node-1"
	// appRepository is the private image every scenario runs.
	appRepository = "team/app:v1"
	// clusterConnector is the cluster Connector oci-connector/harbor.
	clusterConnector = "harbor"
)

var (
	cluster  *kube.Cluster
	node     *realnode.Node
	upstream *registry.Registry
	// public holds what needs no login: the sandbox image, tool images.
	public *registry.Registry
	// clusterProxy serves the cluster Connector: its own audience and the node's.
	clusterProxy *proxyproc.Proc
	// tokenrefreshServer's log is the first thing to read when a pull
	// secret does not come.
	tokenrefreshServer *harness.Server
)

func TestMain(m *testing.M) {
	r := &harness.Runner{}
	cluster = kube.Start(r, kube.WithNode(nodeName))
	// The node's own images come from a registry of the test's, with no login.
	public = registry.NewOpen(r)
	realnode.PushGoImage(r, "./test/realnode/pause", public.Host+"/pause:1", authn.Anonymous)
	// The private registry, behind a password only the Connector holds.
	upstream = registry.NewHtpasswd(r)
	realnode.PushGoImage(r, "./test/realnode/pause", upstream.Host+"/"+appRepository, registry.RobotAuth())

	cluster.ApplyConfig(r, "100-namespace.yaml", "200-serviceaccount.yaml", "200-clusterrole.yaml",
		"200-clusterrole-proxy-access.yaml", "200-clusterrole-tokenrefresh.yaml", "200-clusterrole-audit.yaml",
		"200-clusterrole-csi.yaml", "200-tokenrequest-policy.yaml", "400-webhook-service.yaml")
	root, err := harness.RepoRoot()
	if err != nil {
		r.Fatalf("%v", err)
	}
	if out, err := cluster.Kubectl(r, "apply", "-f", filepath.Join(root, "config", "examples", "node", "kubelet-audience-rbac.yaml")); err != nil {
		r.Fatalf("the kubelet audience RBAC: %v\n%s", err, out)
	}
	// tokenrefresh runs as its own ServiceAccount with the shipped
	// ClusterRole, and takes the controller's refresh events.
	tokenrefresh := harness.FreeAddr(r)
	tokenrefreshServer = harness.StartServer(r, harness.GoBinary(r, "./functions/tokenrefresh"), []string{
		"--listen", tokenrefresh, "--kubeconfig", cluster.KubeconfigAs(r, connectorapi.SystemNamespace, "oci-connector-tokenrefresh"),
		"--system-namespace", connectorapi.SystemNamespace,
	}, nil, tokenrefresh)
	controllerConfig := cluster.ConfigAs(r, connectorapi.SystemNamespace, "oci-connector-controller")
	controlplane.Start(r, controllerConfig, controlplane.Options{Settings: connector.Settings{
		ProxyImage:            "registry.example.com/oci-connector/proxy:scenarios",
		TimeoutSeconds:        resources.DefaultTimeoutSeconds,
		RecheckInterval:       connector.DefaultRecheckInterval,
		ServingNamespace:      controlplane.KnativeServingNamespace,
		TokenRefreshURL:       "http://" + tokenrefresh,
		TokenRefreshTokenFile: cluster.TokenFile(r, connectorapi.SystemNamespace, connectorapi.ControllerServiceAccount, events.TokenRefreshAudience),
	}})
	webhook := controlplane.StartWebhook(r, controllerConfig, controlplane.Options{})
	webhook.Install(r, cluster.Config)

	// The cluster Connector's proxy, as its Knative Service would run it:
	// the Connector's audience and the node audience.
	cluster.BindClusterRole(r, connectorapi.SystemNamespace, "oci-connector-proxy", "oci-connector-proxy", "")
	clusterProxy = proxyproc.Start(r, proxyproc.Options{
		Upstream: upstream.URL, Namespace: connectorapi.SystemNamespace, Name: clusterConnector,
		Kubeconfig: cluster.KubeconfigAs(r, connectorapi.SystemNamespace, "oci-connector-proxy"),
		Secret:     registry.SecretData(),
		Args:       []string{"--audience", v1alpha1.ConnectorAudience(connectorapi.SystemNamespace, clusterConnector) + "," + v1alpha1.NodeAudience},
	})
	controlplane.ReadyConnectorAt(r, cluster.Config, &v1alpha1.Connector{
		ObjectMeta: metav1.ObjectMeta{Namespace: connectorapi.SystemNamespace, Name: clusterConnector},
		Spec: v1alpha1.ConnectorSpec{
			ConnectorClassName: v1alpha1.ConnectorClassOCI,
			Address:            upstream.URL,
			Auth:               v1alpha1.ConnectorAuth{Name: v1alpha1.AuthBasic, SecretRef: &v1alpha1.SecretReference{Name: clusterConnector + "-upstream"}},
		},
	}, registry.SecretData(), apis.HTTP(clusterProxy.Host), func(string) {})

	credentialConfig, credentialBinDir := installCredentialProvider(r, clusterProxy.Host)
	node = realnode.Start(r, cluster, realnode.Options{
		Name:                     nodeName,
		SandboxImage:             public.Host + "/pause:1",
		PlainHTTPHosts:           []string{public.Host, clusterProxy.Host},
		CredentialProviderConfig: credentialConfig,
		CredentialProviderBinDir: credentialBinDir,
	})
	code := m.Run()
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
