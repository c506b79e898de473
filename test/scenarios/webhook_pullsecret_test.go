package scenarios

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
)

// Seed 000: a pod labelled for injection names the upstream image; the
// webhook rewrites it to the Connector's proxy, and the kubelet pulls it
// with the pull secret tokenrefresh keeps on the pod's ServiceAccount. The
// pod runs; the registry password never leaves the Connector's namespace.
func TestWebhookAndPullSecretRunThePod(t *testing.T) {
	ns := "seed000"
	cluster.EnsureServiceAccount(t, ns, "default")
	cluster.BindClusterRole(t, ns, "default", connectorapi.PullerClusterRole, ns)
	proxy := startConnector(t, ns, "harbor", withPullSecrets(&v1alpha1.PullSecretsSpec{ServiceAccounts: []string{"default"}}))
	pullSecretOn(t, ns, "default", nil)

	// The seed's pod: its label and annotation, its image as upstream names it.
	pod := runPod(t, ns, "app", "default", upstream.Host+"/"+appRepository, func(p *corev1.Pod) {
		p.Labels = map[string]string{connectorapi.CompatInjectLabel: "true"}
		p.Annotations = map[string]string{connectorapi.CompatConnectorAnnotation: ns + "/harbor"}
	})
	if want := proxy.Host + "/" + appRepository; pod.Spec.Containers[0].Image != want {
		t.Fatalf("image %s, want it rewritten to %s", pod.Spec.Containers[0].Image, want)
	}
	if len(pod.Spec.ImagePullSecrets) != 1 {
		t.Fatalf("the pod's pull secrets %v, want the ServiceAccount's one", pod.Spec.ImagePullSecrets)
	}
	waitRunning(t, ns, "app")
	if !proxyAnswered(t, proxy, "system:serviceaccount:"+ns+":default", "team/app", 200) {
		t.Error("the proxy's log has no 200 for the pod's ServiceAccount")
	}
}
