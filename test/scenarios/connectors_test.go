package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/reconcilers/connector/resources"
	privatecluster "github.com/oci-connector/oci-connector/test/cluster"
	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/proxyproc"
	"github.com/oci-connector/oci-connector/test/registry"
)

// connectorProxy is a Connector's proxy as Knative runs it.
type connectorProxy struct {
	// Host is the host of the Connector's status.url: its Knative Service's.
	Host string
	// namespace and service name the Knative Service.
	namespace, service string
}

// Requests reads the access logs of the proxy's pods so far, every
// revision's.
func (p *connectorProxy) Requests() []proxyproc.Request {
	return proxyproc.ParseRequests(strings.NewReader(p.Log()))
}

// Log is what the proxy's pods have logged so far.
func (p *connectorProxy) Log() string {
	return pc.ContainerLog(p.namespace, p.service+"-", "proxy")
}

// startConnector makes namespace/name a Connector in front of the upstream
// (with its Secret) and waits until Knative has made its proxy Ready; the
// node reaches it over plain HTTP. mutate changes the spec first.
func startConnector(t harness.T, ns, name string, mutate ...func(*v1alpha1.ConnectorSpec)) *connectorProxy {
	t.Helper()
	cluster.EnsureNamespace(t, ns)
	c := privatecluster.BasicConnector(ns, name, upstream.URL)
	for _, m := range mutate {
		m(&c.Spec)
	}
	ready := pc.ReadyConnector(t, c, registry.SecretData())
	return &connectorProxy{Host: ready.Status.URL.Host, namespace: ns, service: resources.ServiceName(ready)}
}

// withPullSecrets has tokenrefresh keep pull secrets on the ServiceAccounts.
func withPullSecrets(p *v1alpha1.PullSecretsSpec) func(*v1alpha1.ConnectorSpec) {
	return func(s *v1alpha1.ConnectorSpec) { s.PullSecrets = p }
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
		return false, fmt.Sprintf("imagePullSecrets %v\ntokenrefresh:\n%s", sa.ImagePullSecrets, tail(pc.ContainerLog(connectorapi.SystemNamespace, "tokenrefresh-", "user-container")))
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

// tail is the end of a log, for failure messages.
func tail(log string) string {
	if len(log) > 4000 {
		return "..." + log[len(log)-4000:]
	}
	return log
}
