package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/test/controlplane"
	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/proxyproc"
	"github.com/oci-connector/oci-connector/test/registry"
)

// startConnector makes namespace/name a Ready Connector in front of the
// upstream with its proxy running (a cluster Connector's accepts the node
// audience too, as its Knative Service would), reachable by the node.
// proxyArgs are the proxy's extra flags.
func startConnector(t *testing.T, ns, name string, pullSecrets *v1alpha1.PullSecretsSpec, proxyArgs ...string) *proxyproc.Proc {
	t.Helper()
	cluster.EnsureNamespace(t, ns)
	args := proxyArgs
	if ns == connectorapi.SystemNamespace {
		args = append(args, "--audience", v1alpha1.ConnectorAudience(ns, name)+","+v1alpha1.NodeAudience)
	}
	proxy := proxyproc.Start(t, proxyproc.Options{
		Upstream: upstream.URL, Namespace: ns, Name: name,
		Kubeconfig: cluster.KubeconfigAs(t, connectorapi.SystemNamespace, "oci-connector-proxy"),
		Secret:     registry.SecretData(),
		Args:       args,
	})
	controlplane.ReadyConnectorAt(t, cluster.Config, &v1alpha1.Connector{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.ConnectorSpec{
			ConnectorClassName: v1alpha1.ConnectorClassOCI,
			Address:            upstream.URL,
			Auth:               v1alpha1.ConnectorAuth{Name: v1alpha1.AuthBasic, SecretRef: &v1alpha1.SecretReference{Name: name + "-upstream"}},
			PullSecrets:        pullSecrets,
		},
	}, registry.SecretData(), apis.HTTP(proxy.Host), func(string) {})
	node.AddPlainHTTPHost(t, proxy.Host)
	return proxy
}

// pullSecretOn waits until tokenrefresh has put a pull secret on
// namespace/serviceAccount whose token expires at another time than
// previous's (any, when previous is nil), and returns it.
func pullSecretOn(t *testing.T, ns, serviceAccount string, previous *corev1.Secret) *corev1.Secret {
	t.Helper()
	var found *corev1.Secret
	waitFor(t, fmt.Sprintf("a pull secret on %s/%s", ns, serviceAccount), func(ctx context.Context) (bool, string) {
		sa, err := cluster.Client.CoreV1().ServiceAccounts(ns).Get(ctx, serviceAccount, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, ref := range sa.ImagePullSecrets {
			s, err := cluster.Client.CoreV1().Secrets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
			if err != nil || s.Labels[connectorapi.PullSecretConnectorNameLabel] == "" {
				continue
			}
			expires := connectorapi.PullSecretExpiresAnnotation
			if previous == nil || s.Annotations[expires] != previous.Annotations[expires] {
				found = s
				return true, ""
			}
		}
		return false, fmt.Sprintf("imagePullSecrets %v\ntokenrefresh:\n%s", sa.ImagePullSecrets, harness.Tail(tokenrefreshServer.LogPath))
	})
	return found
}

// hostsIn are the registry hosts a pull secret logs in to.
func hostsIn(t *testing.T, s *corev1.Secret) map[string]bool {
	t.Helper()
	var config struct {
		Auths map[string]json.RawMessage
	}
	if err := json.Unmarshal(s.Data[corev1.DockerConfigJsonKey], &config); err != nil {
		t.Fatalf("pull secret %s: %v", s.Name, err)
	}
	hosts := map[string]bool{}
	for h := range config.Auths {
		hosts[h] = true
	}
	return hosts
}
