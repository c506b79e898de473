package scenarios

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
)

// Seed 001, ServiceAccount and pod modes: the pull secret is a short-lived
// token of a ServiceAccount, kept fresh by tokenrefresh, not the registry
// password. Pods pull with it from the ServiceAccount (copied into the pod
// at admission) or named in the pod, and keep pulling across a renewal.
func TestPullSecretsOnServiceAccountAndPod(t *testing.T) {
	ns := "seed001-secrets"
	cluster.EnsureServiceAccount(t, ns, "app")
	cluster.EnsureServiceAccount(t, ns, "plain")
	cluster.BindClusterRole(t, ns, "app", connectorapi.PullerClusterRole, ns)
	// Tokens live 10 minutes (the API server's least) and are renewed when
	// less than 9m56s remain: about every 4 seconds.
	proxy := startConnector(t, ns, "harbor", withPullSecrets(&v1alpha1.PullSecretsSpec{
		ServiceAccounts: []string{"app"},
		TokenTTL:        &metav1.Duration{Duration: 10 * time.Minute},
		RefreshBefore:   &metav1.Duration{Duration: 9*time.Minute + 56*time.Second},
	}))
	image := proxy.Host + "/" + appRepository
	first := pullSecretOn(t, ns, "app", nil)

	serviceAccountMode := func(name string) {
		pod := runPod(t, ns, name, "app", image)
		if len(pod.Spec.ImagePullSecrets) == 0 {
			t.Fatalf("pod %s got no pull secret from its ServiceAccount", name)
		}
		waitRunning(t, ns, name)
	}
	podMode := func(name, secret string) {
		runPod(t, ns, name, "plain", image, func(p *corev1.Pod) {
			p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: secret}}
		})
		waitRunning(t, ns, name)
	}
	serviceAccountMode("sa-before")
	podMode("pod-before", first.Name)

	renewed := pullSecretOn(t, ns, "app", first)
	if string(renewed.Data[corev1.DockerConfigJsonKey]) == string(first.Data[corev1.DockerConfigJsonKey]) {
		t.Fatal("the pull secret's expiry moved but its token did not")
	}
	serviceAccountMode("sa-after")
	podMode("pod-after", renewed.Name)
}
