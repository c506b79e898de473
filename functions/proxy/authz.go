package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
)

// An authorization answer is kept for seconds, so that a revoked RoleBinding
// takes effect almost at once.
const (
	authzCacheTTL         = 10 * time.Second
	authzNegativeCacheTTL = 2 * time.Second
)

// authorizer asks SubjectAccessReview whether an identity may pull or push
// through one Connector.
type authorizer struct {
	client          kubernetes.Interface
	namespace, name string
	cache           *ttlCache[bool]
	// lookedUp, when set, hears whether each lookup hit the cache.
	lookedUp func(ctx context.Context, hit bool)
}

func newAuthorizer(client kubernetes.Interface, namespace, name string) *authorizer {
	return &authorizer{client: client, namespace: namespace, name: name, cache: newTTLCache[bool](authCacheMaxEntries)}
}

func (a *authorizer) allowed(ctx context.Context, id *identity, verb v1alpha1.Verb) (bool, error) {
	key := strings.Join([]string{id.UID, id.Username, strings.Join(id.Groups, ","), string(verb)}, "\x00")
	ok, hit, err := a.cache.get(key, func() (bool, time.Duration, error) {
		extra := map[string]authorizationv1.ExtraValue{}
		for k, v := range id.Extra {
			extra[k] = authorizationv1.ExtraValue(v)
		}
		sar, err := a.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User:   id.Username,
				UID:    id.UID,
				Groups: id.Groups,
				Extra:  extra,
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace:   a.namespace,
					Verb:        string(verb),
					Group:       connector.GroupName,
					Resource:    "connectors",
					Subresource: connector.ProxySubresource,
					Name:        a.name,
				},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			return false, 0, fmt.Errorf("SubjectAccessReview: %w", err)
		}
		if sar.Status.Allowed {
			return true, authzCacheTTL, nil
		}
		return false, authzNegativeCacheTTL, nil
	})
	if a.lookedUp != nil {
		a.lookedUp(ctx, hit)
	}
	return ok, err
}
