package access

import (
	"context"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	ktesting "k8s.io/client-go/testing"

	"github.com/oci-connector/oci-connector/pkg/apis/connector"
)

// fakeReviews answers SubjectAccessReviews with allow and records what was asked.
func fakeReviews(allow func(*authorizationv1.SubjectAccessReview) bool) (*fake.Clientset, *[]*authorizationv1.SubjectAccessReview) {
	client := fake.NewClientset()
	var asked []*authorizationv1.SubjectAccessReview
	client.PrependReactor("create", "subjectaccessreviews", func(a ktesting.Action) (bool, runtime.Object, error) {
		sar := a.(ktesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview).DeepCopy()
		asked = append(asked, sar)
		sar.Status.Allowed = allow(sar)
		return true, sar, nil
	})
	return client, &asked
}

func TestAllowedAsksForTheConnectorsProxySubresource(t *testing.T) {
	client, asked := fakeReviews(func(*authorizationv1.SubjectAccessReview) bool { return true })
	r := NewReviewer(client.AuthorizationV1().SubjectAccessReviews())
	user := authenticationv1.UserInfo{Username: "alice", UID: "u1", Groups: []string{"dev"}, Extra: map[string]authenticationv1.ExtraValue{"k": {"v"}}}
	ok, cached, err := r.Allowed(context.Background(), user, types.NamespacedName{Namespace: "platform", Name: "harbor"}, connector.VerbPush)
	if err != nil || !ok || cached {
		t.Fatalf("Allowed = %v, cached %v, %v; want a fresh yes", ok, cached, err)
	}
	got := (*asked)[0].Spec
	ra := got.ResourceAttributes
	if got.User != "alice" || got.UID != "u1" || got.Groups[0] != "dev" || got.Extra["k"][0] != "v" {
		t.Errorf("the review asked about %+v, not the caller", got)
	}
	if ra.Group != "oci-connector.dev" || ra.Resource != "connectors" || ra.Subresource != "proxy" ||
		ra.Namespace != "platform" || ra.Name != "harbor" || ra.Verb != "push" {
		t.Errorf("resource attributes = %+v", ra)
	}
}

func TestAllowedCachesPerIdentityConnectorAndVerb(t *testing.T) {
	client, asked := fakeReviews(func(sar *authorizationv1.SubjectAccessReview) bool {
		return sar.Spec.ResourceAttributes.Verb == "pull"
	})
	r := NewReviewer(client.AuthorizationV1().SubjectAccessReviews())
	ctx := context.Background()
	sa := ServiceAccount("team-a", "default")
	harbor := types.NamespacedName{Namespace: "platform", Name: "harbor"}

	for i, c := range []struct {
		user      authenticationv1.UserInfo
		connector types.NamespacedName
		verb      connector.Verb
		want      bool
		cached    bool
	}{
		{sa, harbor, connector.VerbPull, true, false},
		{sa, harbor, connector.VerbPull, true, true},
		{sa, harbor, connector.VerbPush, false, false},
		{sa, harbor, connector.VerbPush, false, true},
		{sa, types.NamespacedName{Namespace: "platform", Name: "quay"}, connector.VerbPull, true, false},
		{ServiceAccount("team-b", "default"), harbor, connector.VerbPull, true, false},
	} {
		ok, cached, err := r.Allowed(ctx, c.user, c.connector, c.verb)
		if err != nil || ok != c.want || cached != c.cached {
			t.Errorf("call %d: Allowed = %v, cached %v, %v; want %v, cached %v", i, ok, cached, err, c.want, c.cached)
		}
	}
	if len(*asked) != 4 {
		t.Errorf("%d reviews were sent, want 4 (the rest from the cache)", len(*asked))
	}
}

func TestServiceAccountIdentity(t *testing.T) {
	u := ServiceAccount("team-a", "builder")
	if u.Username != "system:serviceaccount:team-a:builder" {
		t.Errorf("username = %q", u.Username)
	}
	want := map[string]bool{"system:serviceaccounts": true, "system:serviceaccounts:team-a": true, "system:authenticated": true}
	for _, g := range u.Groups {
		delete(want, g)
	}
	if len(want) != 0 {
		t.Errorf("groups %v lack %v", u.Groups, want)
	}
}
