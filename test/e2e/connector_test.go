package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/reconcilers/connector/resources"
	rtesting "github.com/oci-connector/oci-connector/reconcilers/testing"
	"github.com/oci-connector/oci-connector/test/registry"
)

func createSecret(t *testing.T, ns, name, username, password string) {
	t.Helper()
	_, err := cluster.Client.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		StringData: map[string]string{"username": username, "password": password},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating Secret %s/%s: %v", ns, name, err)
	}
}

// connectorSpec is a Connector for address with credentials in secret,
// scoped to the seed repository.
func connectorSpec(ns, name, address string, auth v1alpha1.AuthMethod, secret string) *v1alpha1.Connector {
	return &v1alpha1.Connector{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.ConnectorSpec{
			ConnectorClassName: v1alpha1.ConnectorClassOCI,
			Address:            address,
			Auth: v1alpha1.ConnectorAuth{
				Name:      auth,
				SecretRef: &v1alpha1.SecretReference{Name: secret},
				Params:    []v1alpha1.Param{{Name: v1alpha1.ParamRepository, Value: registry.SeedRepository}},
			},
		},
	}
}

func createConnector(t *testing.T, ns, name, address string, auth v1alpha1.AuthMethod, secret string) {
	t.Helper()
	c := connectorSpec(ns, name, address, auth, secret)
	if _, err := connectors.ConnectorV1alpha1().Connectors(ns).Create(context.Background(), c, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating Connector %s/%s: %v", ns, name, err)
	}
}

// A Connector with good credentials goes Ready through every condition, for
// both auth flows; its proxy Service is accepted by the API server's schema
// and by Knative's own validation, and is owned by the Connector.
func TestConnectorGoesReady(t *testing.T) {
	for _, tc := range []struct {
		name string
		reg  *registry.Registry
		auth v1alpha1.AuthMethod
	}{
		{"htpasswd", registry.NewHtpasswd(t), v1alpha1.AuthBasic},
		{"token", registry.NewTokenAuth(t), v1alpha1.AuthToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := "ready-" + tc.name
			cluster.EnsureNamespace(t, ns)
			createSecret(t, ns, "upstream", registry.Username, registry.Password)
			createConnector(t, ns, "harbor", tc.reg.URL, tc.auth, "upstream")

			waitForCondition(t, ns, "harbor", v1alpha1.ConditionSecretResolved, corev1.ConditionTrue, "")
			waitForCondition(t, ns, "harbor", v1alpha1.ConditionUpstreamAuthenticated, corev1.ConditionTrue, "")
			c := waitForCondition(t, ns, "harbor", v1alpha1.ConditionProxyReady, corev1.ConditionUnknown, v1alpha1.ReasonServiceNotReady)
			if c.Status.IsReady() {
				t.Fatal("Ready before the proxy Service is")
			}

			ksvc := waitForService(t, ns, "c-harbor", nil)
			checkProxyService(t, c, ksvc)

			actAsKnative(t, ksvc)
			c = waitForCondition(t, ns, "harbor", v1alpha1.ConditionReady, corev1.ConditionTrue, "")
			if got, want := c.Status.URL.String(), "http://c-harbor."+ns+".example.com"; got != want {
				t.Errorf("status.url = %s, want %s", got, want)
			}
			if got, want := c.Status.Address.URL.String(), "http://c-harbor."+ns+".svc.cluster.local"; got != want {
				t.Errorf("status.address.url = %s, want %s", got, want)
			}
			if c.Status.Audience != v1alpha1.ConnectorAudience(ns, "harbor") {
				t.Errorf("status.audience = %q", c.Status.Audience)
			}
			assertNoCredentialIn(t, ns, "harbor")
		})
	}
}

func checkProxyService(t *testing.T, c *v1alpha1.Connector, ksvc *servingv1.Service) {
	t.Helper()
	// The owner reference is what garbage collection would follow; no
	// garbage collector runs here, so check the reference itself.
	if len(ksvc.OwnerReferences) != 1 {
		t.Fatalf("owner references = %+v", ksvc.OwnerReferences)
	}
	ref := ksvc.OwnerReferences[0]
	if ref.UID != c.UID || ref.Kind != "Connector" || ref.APIVersion != "oci-connector.dev/v1alpha1" || ref.Controller == nil || !*ref.Controller {
		t.Errorf("owner reference = %+v, want the Connector %s as controller", ref, c.UID)
	}
	if got := ksvc.Spec.Template.Spec.Containers[0].Image; got != testImage {
		t.Errorf("image = %s, want %s", got, testImage)
	}
	if got := ksvc.Spec.Template.Spec.ServiceAccountName; got != resources.ProxyServiceAccount {
		t.Errorf("serviceAccountName = %q, want %s", got, resources.ProxyServiceAccount)
	}
	checkProxyIdentity(t, c)

	// The stored object, as the API server's schema pruned and accepted it,
	// must also pass Knative's own defaulting and validation.
	ctx := rtesting.ServingInstallContext(context.Background())
	stored := ksvc.DeepCopy()
	stored.SetDefaults(ctx)
	if err := stored.Validate(ctx); err != nil {
		t.Errorf("Knative refuses the stored Service: %v", err)
	}
}

// assertNoCredentialIn checks that the password reached neither the
// Connector's status, its proxy Service, nor the events about it.
func assertNoCredentialIn(t *testing.T, ns, name string) {
	t.Helper()
	ctx := context.Background()
	c, err := connectors.ConnectorV1alpha1().Connectors(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ksvc, err := serving.ServingV1().Services(ns).Get(ctx, "c-"+name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	events, err := cluster.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for what, text := range map[string]string{
		"Connector": fmt.Sprintf("%+v", c),
		"Service":   fmt.Sprintf("%+v", ksvc),
		"events":    fmt.Sprintf("%+v", events.Items),
	} {
		if strings.Contains(text, registry.Password) {
			t.Errorf("the upstream password appears in the %s", what)
		}
	}
}

// Wrong credentials are reported as Unauthorized with a message to act on,
// and the Connector is not Ready; a missing Secret says so, and creating it
// later resolves the Connector without touching it.
func TestConnectorReportsBadCredentialsAndMissingSecret(t *testing.T) {
	reg := registry.NewHtpasswd(t)
	ns := "bad-credentials"
	cluster.EnsureNamespace(t, ns)

	createSecret(t, ns, "wrong", registry.Username, "not-the-password")
	createConnector(t, ns, "wrong", reg.URL, v1alpha1.AuthBasic, "wrong")
	c := waitForCondition(t, ns, "wrong", v1alpha1.ConditionUpstreamAuthenticated, corev1.ConditionFalse, v1alpha1.ReasonUnauthorized)
	if msg := c.Status.GetCondition(v1alpha1.ConditionUpstreamAuthenticated).Message; !strings.Contains(msg, "check the username and password") {
		t.Errorf("message %q does not say what to do", msg)
	}
	if ready := c.Status.GetCondition(v1alpha1.ConditionReady); ready.IsTrue() || ready.Reason != v1alpha1.ReasonUnauthorized {
		t.Errorf("Ready = %+v, want not true with reason Unauthorized", ready)
	}

	createConnector(t, ns, "late", reg.URL, v1alpha1.AuthBasic, "late-secret")
	waitForCondition(t, ns, "late", v1alpha1.ConditionSecretResolved, corev1.ConditionFalse, v1alpha1.ReasonSecretNotFound)
	createSecret(t, ns, "late-secret", registry.Username, registry.Password)
	waitForCondition(t, ns, "late", v1alpha1.ConditionUpstreamAuthenticated, corev1.ConditionTrue, "")

	unreachable := "http://127.0.0.1:1"
	createSecret(t, ns, "any", registry.Username, registry.Password)
	createConnector(t, ns, "down", unreachable, v1alpha1.AuthBasic, "any")
	waitForCondition(t, ns, "down", v1alpha1.ConditionUpstreamAuthenticated, corev1.ConditionFalse, v1alpha1.ReasonUnreachable)

	createConnector(t, ns, "norepo", reg.URL, v1alpha1.AuthBasic, "any")
	patch := `{"spec":{"auth":{"params":[{"name":"repository","value":"testing/missing"}]}}}`
	if _, err := connectors.ConnectorV1alpha1().Connectors(ns).Patch(context.Background(), "norepo", "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForCondition(t, ns, "norepo", v1alpha1.ConditionUpstreamAuthenticated, corev1.ConditionFalse, v1alpha1.ReasonRepositoryNotFound)
}

// Rotating the Secret's content rolls a new proxy revision: the template's
// digest annotation changes, and it never holds the password.
func TestSecretRotationRollsTheProxy(t *testing.T) {
	reg := registry.NewHtpasswd(t)
	ns := "rotation"
	cluster.EnsureNamespace(t, ns)
	createSecret(t, ns, "upstream", registry.Username, registry.Password)
	createConnector(t, ns, "harbor", reg.URL, v1alpha1.AuthBasic, "upstream")

	before := waitForService(t, ns, "c-harbor", nil).Spec.Template.Annotations[resources.SecretDigestAnnotation]
	if before == "" {
		t.Fatal("no digest annotation on the proxy template")
	}

	ctx := context.Background()
	s, err := cluster.Client.CoreV1().Secrets(ns).Get(ctx, "upstream", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Data["password"] = []byte("rotated-password")
	if _, err := cluster.Client.CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	after := waitForService(t, ns, "c-harbor", func(ksvc *servingv1.Service) bool {
		return ksvc.Spec.Template.Annotations[resources.SecretDigestAnnotation] != before
	}).Spec.Template.Annotations[resources.SecretDigestAnnotation]
	if strings.Contains(after, "rotated-password") {
		t.Fatal("the digest annotation holds the password")
	}
	// The registry still has the old password, so the check now fails.
	waitForCondition(t, ns, "harbor", v1alpha1.ConditionUpstreamAuthenticated, corev1.ConditionFalse, v1alpha1.ReasonUnauthorized)
}

// checkProxyIdentity checks that the proxy's ServiceAccount exists, owned by
// the Connector, and that its token may do what the proxy does: review tokens
// and access.
func checkProxyIdentity(t *testing.T, c *v1alpha1.Connector) {
	t.Helper()
	ctx := context.Background()
	sa, err := cluster.Client.CoreV1().ServiceAccounts(c.Namespace).Get(ctx, resources.ProxyServiceAccount, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("proxy ServiceAccount: %v", err)
	}
	owned := false
	for _, ref := range sa.OwnerReferences {
		owned = owned || ref.UID == c.UID
	}
	if !owned {
		t.Errorf("proxy ServiceAccount owners = %+v, want the Connector among them", sa.OwnerReferences)
	}
	proxyClient, err := kubernetes.NewForConfig(cluster.ConfigAs(t, c.Namespace, resources.ProxyServiceAccount))
	if err != nil {
		t.Fatal(err)
	}
	review, err := proxyClient.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: "not-a-token", Audiences: []string{v1alpha1.NodeAudience}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("the proxy's identity cannot create a TokenReview: %v", err)
	}
	if review.Status.Authenticated {
		t.Error("a bogus token was authenticated")
	}
	if _, err := proxyClient.CoreV1().Secrets(c.Namespace).List(ctx, metav1.ListOptions{}); err == nil {
		t.Error("the proxy's identity can list Secrets; it must not")
	}
}
