package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"github.com/oci-connector/oci-connector/pkg/apis/config"
	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/proxyenv"
	"github.com/oci-connector/oci-connector/test/registry"
)

// setClusterConnectorNamespaces writes config-oci-connector, as the cluster
// admin would, until the test ends; the default comes back after.
func setClusterConnectorNamespaces(t *testing.T, namespaces ...string) {
	t.Helper()
	ctx := context.Background()
	configMaps := cluster.Client.CoreV1().ConfigMaps(connectorapi.SystemNamespace)
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: config.ConfigName},
		Data:       map[string]string{config.ClusterConnectorNamespacesKey: strings.Join(namespaces, ",")},
	}
	_, err := configMaps.Update(ctx, cm, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		_, err = configMaps.Create(ctx, cm, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = configMaps.Delete(context.Background(), config.ConfigName, metav1.DeleteOptions{}) })
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
	// Its proxy rolls to take the node audience too, and is Ready again.
	rollProxy(t, "tenant-platform", "harbor", v1alpha1.ConnectorAudience("tenant-platform", "harbor")+","+v1alpha1.NodeAudience)
	waitFor(t, "the pod matched with the cluster Connector", func(ctx context.Context) (bool, string) {
		got, err := imageOfDryRunPod(ctx, team, image)
		if err != nil {
			return false, err.Error()
		}
		return got == platformProxy+"/team/app:v1", got
	})
}

// A namespaced Connector cannot make tokenrefresh write pull secrets into
// other teams' namespaces or kube-system: its namespaceSelector is refused
// at admission. Even a cluster Connector never writes to kube-system; when
// the cluster admin takes its namespace off the list, its pull secrets
// elsewhere go. A Secret that only carries a Connector's labels is never
// deleted.
func TestPullSecretsStayWithinTheTenant(t *testing.T) {
	ctx := context.Background()
	reg := registry.NewHtpasswd(t)
	evil, victim := "tr-evil", "tr-victim"
	readyConnector(t, evil, "grab", reg)
	if out, err := cluster.Kubectl(t, "create", "rolebinding", "everyone", "-n", evil,
		"--clusterrole="+connectorapi.PullerClusterRole, "--group=system:serviceaccounts"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	cluster.EnsureServiceAccount(t, victim, "default")
	cluster.EnsureServiceAccount(t, "kube-system", "tr-probe")
	everywhere := &v1alpha1.PullSecretsSpec{NamespaceSelector: &metav1.LabelSelector{}, ServiceAccounts: []string{"*"}}

	c, err := connectors.ConnectorV1alpha1().Connectors(evil).Get(ctx, "grab", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.Spec.PullSecrets = everywhere
	_, err = connectors.ConnectorV1alpha1().Connectors(evil).Update(ctx, c, metav1.UpdateOptions{})
	if err == nil || !strings.Contains(err.Error(), "only a cluster Connector may select other namespaces") ||
		!strings.Contains(err.Error(), "spec.pullSecrets.namespaceSelector") {
		t.Fatalf("a namespaced Connector selecting every namespace: %v, want a refusal naming spec.pullSecrets.namespaceSelector", err)
	}

	// The cluster admin makes tr-evil a cluster Connectors' namespace: its
	// proxy rolls to accept the node audience too.
	setClusterConnectorNamespaces(t, connectorapi.SystemNamespace, evil)
	rollProxy(t, evil, "grab", v1alpha1.ConnectorAudience(evil, "grab")+","+v1alpha1.NodeAudience)
	setPullSecrets(t, evil, "grab", everywhere)
	written := pullSecretOf(t, victim, "default", 30*time.Second)
	// Namespaces are handled in name order, so kube-system's turn came first.
	if list, err := cluster.Client.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{
		LabelSelector: connectorapi.PullSecretConnectorNameLabel}); err != nil || len(list.Items) != 0 {
		t.Fatalf("pull secrets in kube-system: %d (%v), want none", len(list.Items), err)
	}

	// A Secret of the victim's that someone labelled as the Connector's.
	if _, err := cluster.Client.CoreV1().Secrets(victim).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "db-password", Labels: written.Labels},
		StringData: map[string]string{"password": "s3cret"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Back to the default: tr-evil's Connector serves tr-evil alone. Once
	// its proxy runs again, its own namespace has its pull secret and the
	// victim's has none.
	setClusterConnectorNamespaces(t, connectorapi.SystemNamespace)
	rollProxy(t, evil, "grab", v1alpha1.ConnectorAudience(evil, "grab"))
	// Its status says so.
	waitForCondition(t, evil, "grab", v1alpha1.ConditionPullSecretsScope, corev1.ConditionFalse, v1alpha1.ReasonNotAClusterConnector)
	cluster.EnsureServiceAccount(t, evil, "default")
	pullSecretOf(t, evil, "default", 30*time.Second)
	waitFor(t, "tr-evil's pull secret gone from tr-victim", func(ctx context.Context) (bool, string) {
		_, err := cluster.Client.CoreV1().Secrets(victim).Get(ctx, written.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	if _, err := cluster.Client.CoreV1().Secrets(victim).Get(ctx, "db-password", metav1.GetOptions{}); err != nil {
		t.Errorf("the Secret that only carried the labels: %v, want it kept", err)
	}
}

// statusThrough asks a proxy for the seed manifest with token.
func statusThrough(t *testing.T, proxyHost, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+proxyHost+"/v2/"+registry.SeedRepository+"/manifests/"+registry.SeedTag, nil)
	req.Header.Set("Authorization", basicHeader(token))
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// rollProxy waits until the Connector's proxy Service asks for the
// audiences want, and marks it Ready, as Knative would once the new
// revision runs.
func rollProxy(t *testing.T, ns, name, want string) {
	t.Helper()
	actAsKnative(t, waitForService(t, ns, "c-"+name, func(s *servingv1.Service) bool {
		return proxyAudiences(s) == want
	}))
	waitForCondition(t, ns, name, v1alpha1.ConditionReady, corev1.ConditionTrue, "")
}

// proxyAudiences is the AUDIENCE a proxy Service gives its container.
func proxyAudiences(s *servingv1.Service) string {
	for _, e := range s.Spec.Template.Spec.Containers[0].Env {
		if e.Name == proxyenv.Audience {
			return e.Value
		}
	}
	return ""
}

// Every Connector's proxy accepts tokens for its own audience only: a token
// a team sent to one proxy (which runs in its owner's namespace) is worth
// nothing at another's. A Connector cannot choose an audience; cluster
// Connectors also accept the node plane's.
func TestTokensAreBoundToOneConnector(t *testing.T) {
	reg := registry.NewHtpasswd(t)
	a, b := "aud-team-a", "aud-team-b"
	proxyA, proxyB := startProxy(t, reg, a, "harbor"), startProxy(t, reg, b, "harbor")
	// The ServiceAccount may pull through both.
	cluster.BindClusterRole(t, a, "builder", connectorapi.PullerClusterRole, a)
	cluster.BindClusterRole(t, a, "builder", connectorapi.PullerClusterRole, b)
	forA := cluster.Token(t, a, "builder", v1alpha1.ConnectorAudience(a, "harbor"), time.Hour)
	node := cluster.Token(t, a, "builder", v1alpha1.NodeAudience, time.Hour)
	if code := statusThrough(t, proxyA.Host, forA); code != http.StatusOK {
		t.Fatalf("a token for %s/harbor at its own proxy: %d, want 200", a, code)
	}
	if code := statusThrough(t, proxyB.Host, forA); code != http.StatusUnauthorized {
		t.Errorf("a token for %s/harbor replayed to %s/harbor: %d, want 401", a, b, code)
	}
	if code := statusThrough(t, proxyB.Host, node); code != http.StatusUnauthorized {
		t.Errorf("a node-audience token at a namespaced Connector's proxy: %d, want 401", code)
	}

	// A Connector may not take an audience: not another's, not the node's.
	for _, audience := range []string{v1alpha1.ConnectorAudience(a, "harbor"), v1alpha1.NodeAudience, "https://kubernetes.default.svc"} {
		c := connectorSpec(b, "chooser", reg.URL, v1alpha1.AuthBasic, "s")
		c.Spec.Proxy.Audience = audience
		_, err := connectors.ConnectorV1alpha1().Connectors(b).Create(context.Background(), c, metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), "spec.proxy.audience") {
			t.Errorf("a Connector choosing the audience %q: %v, want a refusal naming spec.proxy.audience", audience, err)
		}
	}

	// What the controller gives each proxy: its own audience, and the node
	// audience for a cluster Connector only.
	readyConnector(t, a, "harbor", reg)
	setClusterConnectorNamespaces(t, connectorapi.SystemNamespace, b)
	readyConnector(t, b, "harbor", reg)
	for ns, want := range map[string]string{
		a: v1alpha1.ConnectorAudience(a, "harbor"),
		b: v1alpha1.ConnectorAudience(b, "harbor") + "," + v1alpha1.NodeAudience,
	} {
		waitForService(t, ns, "c-harbor", func(s *servingv1.Service) bool { return proxyAudiences(s) == want })
		c := waitForCondition(t, ns, "harbor", v1alpha1.ConditionReady, corev1.ConditionTrue, "")
		if c.Status.Audience != v1alpha1.ConnectorAudience(ns, "harbor") {
			t.Errorf("%s/harbor status.audience = %q", ns, c.Status.Audience)
		}
	}
}
