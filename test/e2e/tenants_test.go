package e2e

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/trust"
	"github.com/oci-connector/oci-connector/test/registry"
)

// setClusterConnectorNamespaces writes config-oci-connector, as the cluster
// admin would, until the test ends; the default comes back after.
func setClusterConnectorNamespaces(t *testing.T, namespaces ...string) {
	t.Helper()
	ctx := context.Background()
	configMaps := cluster.Client.CoreV1().ConfigMaps(connectorapi.SystemNamespace)
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: trust.ConfigName},
		Data:       map[string]string{trust.ClusterConnectorNamespacesKey: strings.Join(namespaces, ",")},
	}
	_, err := configMaps.Update(ctx, cm, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		_, err = configMaps.Create(ctx, cm, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = configMaps.Delete(context.Background(), trust.ConfigName, metav1.DeleteOptions{}) })
}

// imageOfDryRunPod is the image the API server would store for a labelled
// pod in ns with image: the webhook sees a dry run as it sees a create.
func imageOfDryRunPod(ctx context.Context, ns, image string) (string, error) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Labels: map[string]string{connectorapi.InjectLabel: "true"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
	}
	got, err := cluster.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		return "", err
	}
	return got.Spec.Containers[0].Image, nil
}

// Another tenant's Connector for the same registry neither captures a
// team's pods nor blocks them, Ready or not, even with a RoleBinding that
// lets everyone pull through it. A cluster Connector serves every
// namespace, once the cluster admin lists its namespace, without a restart.
func TestPodWebhookKeepsTenantsApart(t *testing.T) {
	reg := registry.NewHtpasswd(t)
	image := registryHost(reg) + "/team/app:v1"
	platformProxy := readyConnector(t, "tenant-platform", "harbor", reg)
	readyConnector(t, "tenant-evil", "capture", reg)
	// A permissive RoleBinding: every ServiceAccount may pull through evil's.
	if out, err := cluster.Kubectl(t, "create", "rolebinding", "everyone", "-n", "tenant-evil",
		"--clusterrole="+connectorapi.PullerClusterRole, "--group=system:serviceaccounts"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// And one that never goes Ready: its Secret is missing.
	createConnector(t, "tenant-evil", "broken", reg.URL, v1alpha1.AuthBasic, "missing")
	waitForCondition(t, "tenant-evil", "broken", v1alpha1.ConditionSecretResolved, corev1.ConditionFalse, "")
	team := "tenant-team"
	cluster.EnsureServiceAccount(t, team, "default")
	cluster.BindClusterRole(t, team, "default", connectorapi.PullerClusterRole, "tenant-platform")

	got, err := imageOfDryRunPod(context.Background(), team, image)
	if err != nil {
		t.Fatalf("a pod was refused because of another tenant's Connectors: %v", err)
	}
	if got != image {
		t.Fatalf("image %s, want %s left alone: no Connector of the pod's namespace or the cluster serves it", got, image)
	}

	setClusterConnectorNamespaces(t, connectorapi.SystemNamespace, "tenant-platform")
	waitFor(t, "the pod matched with the cluster Connector", func(ctx context.Context) (bool, string) {
		got, err := imageOfDryRunPod(ctx, team, image)
		if err != nil {
			return false, err.Error()
		}
		return got == platformProxy+"/team/app:v1", got
	})
}
