package scenarios

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
)

// Seed 001, node mode, without the node's config.json: the kubelet hands
// its credential provider the pod's own ServiceAccount token for the node
// audience (KEP-4412) and pulls through the cluster Connector's proxy with
// it. No Secret exists in the pod's namespace; a ServiceAccount without RBAC
// on the Connector gets no image.
func TestNodePullsWithNoSecret(t *testing.T) {
	ns := "seed001-node"
	cluster.EnsureServiceAccount(t, ns, "app")
	cluster.BindClusterRole(t, ns, "app", connectorapi.PullerClusterRole, connectorapi.SystemNamespace)
	image := clusterProxy.Host + "/" + appRepository

	runPod(t, ns, "app", "app", image)
	pod := waitRunning(t, ns, "app")
	if len(pod.Spec.ImagePullSecrets) != 0 {
		t.Errorf("the pod has pull secrets: %v", pod.Spec.ImagePullSecrets)
	}
	secrets, err := cluster.Client.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(secrets.Items) != 0 {
		t.Errorf("secrets in the namespace: %d", len(secrets.Items))
	}
	if !proxyAnswered(t, clusterProxy, "system:serviceaccount:"+ns+":app", "team/app", 200) {
		t.Error("the proxy's log has no 200 for the pod's ServiceAccount: the image did not come through it")
	}

	t.Run("a ServiceAccount without RBAC gets no image", func(t *testing.T) {
		cluster.EnsureServiceAccount(t, ns, "nobody")
		runPod(t, ns, "nobody", "nobody", image)
		msg := waitPullRefused(t, ns, "nobody")
		if !strings.Contains(msg, "403 Forbidden") {
			t.Errorf("the kubelet's refusal says: %s", msg)
		}
		if !proxyAnswered(t, clusterProxy, "system:serviceaccount:"+ns+":nobody", "team/app", 403) {
			t.Error("the proxy's log has no 403 for the ServiceAccount without RBAC")
		}
	})
}
