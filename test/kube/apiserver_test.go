package kube

import (
	"context"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The harness must give a real API server: tokens it mints are accepted by
// TokenReview for their audience only, and the CRDs are served.
func TestClusterMintsTokensAndServesCRDs(t *testing.T) {
	c := Start(t)
	ctx := context.Background()

	token := c.Token(t, "team-a", "builder", "oci-connector.dev", 10*time.Minute)
	review := func(audience string) *authenticationv1.TokenReview {
		t.Helper()
		r, err := c.Client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
			Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{audience}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("TokenReview: %v", err)
		}
		return r
	}
	if r := review("oci-connector.dev"); !r.Status.Authenticated || r.Status.User.Username != "system:serviceaccount:team-a:builder" {
		t.Fatalf("token for its audience not authenticated: %+v", r.Status)
	}
	if r := review(Issuer); r.Status.Authenticated {
		t.Fatal("a token for oci-connector.dev was accepted for the API server's audience")
	}

	for _, resource := range []string{"connectors.oci-connector.dev", "services.serving.knative.dev"} {
		if _, err := c.Client.Discovery().RESTClient().Get().AbsPath("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + resource).DoRaw(ctx); err != nil {
			t.Errorf("CRD %s not installed: %v", resource, err)
		}
	}
}
