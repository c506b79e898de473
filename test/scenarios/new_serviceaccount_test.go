package scenarios

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
)

// Seed 003, the vendor helper's job: a cluster Connector selects
// namespaces by label; a ServiceAccount made there later runs a pod from
// the private registry with no manual step: tokenrefresh gives it a pull
// secret, the kubelet pulls with it.
func TestNewServiceAccountRunsAPod(t *testing.T) {
	ns := "seed003"
	proxy := startConnector(t, connectorapi.SystemNamespace, "fleet", withPullSecrets(&v1alpha1.PullSecretsSpec{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"registry-access": "fleet"}},
		ServiceAccounts:   []string{"*"},
	}))
	if _, err := cluster.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"registry-access": "fleet"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Every ServiceAccount of the namespace may pull through the Connector.
	if out, err := cluster.Kubectl(t, "create", "rolebinding", "fleet-pullers", "-n", connectorapi.SystemNamespace,
		"--clusterrole="+connectorapi.PullerClusterRole, "--group=system:serviceaccounts:"+ns); err != nil {
		t.Fatalf("%v: %s", err, out)
	}

	start := time.Now()
	cluster.EnsureServiceAccount(t, ns, "newcomer")
	secret := pullSecretOn(t, ns, "newcomer", nil)
	if !hostsIn(t, secret)[proxy.Host] {
		t.Fatalf("the pull secret does not log in to the Connector's URL %s: %v", proxy.Host, hostsIn(t, secret))
	}
	runPod(t, ns, "app", "newcomer", proxy.Host+"/"+appRepository)
	waitRunning(t, ns, "app")
	t.Logf("from a new ServiceAccount to its pod running: %v", time.Since(start).Round(time.Millisecond))
}
