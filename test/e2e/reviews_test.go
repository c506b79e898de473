package e2e

import (
	"context"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oci-connector/oci-connector/pkg/reviews"
)

// The proxy's and the audit function's API client (pkg/reviews, client-go's
// REST client without the clientset) on the real API server, as the proxy's
// shipped ClusterRole allows it: a token is reviewed, access is reviewed,
// and a ServiceAccount without the role gets the API server's refusal as
// client-go's error.
func TestReviewsClientOnTheAPIServer(t *testing.T) {
	ctx := context.Background()
	ns := "reviews-client"
	cluster.BindClusterRole(t, ns, "proxy", "oci-connector-proxy", "")
	cluster.EnsureServiceAccount(t, ns, "nobody")
	client, err := reviews.New(cluster.ConfigAs(t, ns, "proxy"))
	if err != nil {
		t.Fatal(err)
	}

	token := cluster.Token(t, ns, "nobody", "reviews.example", time.Hour)
	tr, err := client.TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{"reviews.example"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "system:serviceaccount:" + ns + ":nobody"; !tr.Status.Authenticated || tr.Status.User.Username != want {
		t.Errorf("TokenReview: authenticated %t as %q, want %q", tr.Status.Authenticated, tr.Status.User.Username, want)
	}
	tr, err = client.TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{"another.example"}},
	}, metav1.CreateOptions{})
	if err != nil || tr.Status.Authenticated {
		t.Errorf("TokenReview for another audience: authenticated %t, %v", tr.Status.Authenticated, err)
	}

	ask := func(verb string) bool {
		t.Helper()
		sar, err := client.SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:               "system:serviceaccount:" + ns + ":proxy",
			ResourceAttributes: &authorizationv1.ResourceAttributes{Group: "authentication.k8s.io", Resource: "tokenreviews", Verb: verb},
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return sar.Status.Allowed
	}
	if !ask("create") || ask("delete") {
		t.Errorf("SubjectAccessReview: create tokenreviews %t, delete %t; want true, false", ask("create"), ask("delete"))
	}

	unbound, err := reviews.New(cluster.ConfigAs(t, ns, "nobody"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = unbound.TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("TokenReview without the role: %v, want Forbidden", err)
	}
	_, err = unbound.SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: "x", ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods"},
	}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("SubjectAccessReview without the role: %v, want Forbidden", err)
	}
}
