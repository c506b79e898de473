// Package access asks the API server, with SubjectAccessReview, whether an
// identity may pull or push through a Connector, and remembers the answer for
// seconds. The proxy asks for every request; the pod webhook asks for the
// ServiceAccount a pod runs as.
package access

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/reviews"
	"github.com/oci-connector/oci-connector/pkg/ttlcache"
)

// An answer is kept for seconds, so that a revoked RoleBinding takes effect
// almost at once; a refusal for less, so that a new one does too.
const (
	allowedTTL    = 10 * time.Second
	deniedTTL     = 2 * time.Second
	maxCacheItems = 10000
)

// Reviewer asks SubjectAccessReview about pull and push on connectors/proxy.
type Reviewer struct {
	reviews reviews.SubjectAccessReviews
	// cache collapses concurrent asks; answers stay for these TTLs (zero:
	// not kept).
	cache                 *ttlcache.Cache[bool]
	allowedTTL, deniedTTL time.Duration
}

// NewReviewer makes a Reviewer that asks through sars (a clientset's
// AuthorizationV1().SubjectAccessReviews(), or reviews.Client's) and keeps
// answers for seconds: for the proxy and the webhook, which ask per request.
func NewReviewer(sars reviews.SubjectAccessReviews) *Reviewer {
	return &Reviewer{reviews: sars, cache: ttlcache.New[bool](maxCacheItems), allowedTTL: allowedTTL, deniedTTL: deniedTTL}
}

// NewUncachedReviewer makes a Reviewer that asks every time: for
// tokenrefresh, which asks once per ServiceAccount per event, and must see
// a RoleBinding made a moment before the event.
func NewUncachedReviewer(sars reviews.SubjectAccessReviews) *Reviewer {
	return &Reviewer{reviews: sars, cache: ttlcache.New[bool](maxCacheItems)}
}

// ServiceAccount is the identity the API server gives a ServiceAccount's
// tokens: the username and groups a pod running as it authenticates with.
func ServiceAccount(namespace, name string) authenticationv1.UserInfo {
	return authenticationv1.UserInfo{
		Username: "system:serviceaccount:" + namespace + ":" + name,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
	}
}

// Allowed says whether user may use verb on the Connector, and whether the
// answer came from the cache.
func (r *Reviewer) Allowed(ctx context.Context, user authenticationv1.UserInfo, connectorKey types.NamespacedName, verb v1alpha1.Verb) (allowed, cached bool, err error) {
	return r.cache.Get(ctx, cacheKey(user, connectorKey, verb), func(ctx context.Context) (bool, time.Duration, error) {
		sar, err := r.reviews.Create(ctx, review(user, connectorKey, verb), metav1.CreateOptions{})
		if err != nil {
			return false, 0, fmt.Errorf("SubjectAccessReview: %w", err)
		}
		if sar.Status.Allowed {
			return true, r.allowedTTL, nil
		}
		return false, r.deniedTTL, nil
	})
}

func review(user authenticationv1.UserInfo, connectorKey types.NamespacedName, verb v1alpha1.Verb) *authorizationv1.SubjectAccessReview {
	extra := make(map[string]authorizationv1.ExtraValue, len(user.Extra))
	for k, v := range user.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	return &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   user.Username,
			UID:    user.UID,
			Groups: user.Groups,
			Extra:  extra,
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace:   connectorKey.Namespace,
				Verb:        string(verb),
				Group:       connector.GroupName,
				Resource:    "connectors",
				Subresource: connector.ProxySubresource,
				Name:        connectorKey.Name,
			},
		},
	}
}

// cacheKey covers everything the answer depends on; Extra is sorted so that
// map order does not split one identity over several keys.
func cacheKey(user authenticationv1.UserInfo, connectorKey types.NamespacedName, verb v1alpha1.Verb) string {
	extra := make([]string, 0, len(user.Extra))
	for k, v := range user.Extra {
		extra = append(extra, k+"="+strings.Join(v, ","))
	}
	sort.Strings(extra)
	return strings.Join([]string{
		user.UID, user.Username, strings.Join(user.Groups, ","), strings.Join(extra, ";"),
		connectorKey.String(), string(verb),
	}, "\x00")
}

// GrantPull is the command that lets namespace/serviceAccount pull through
// the Connector: what a refusal tells the user to run.
func GrantPull(namespace, serviceAccount string, connectorKey types.NamespacedName) string {
	return fmt.Sprintf("kubectl create rolebinding pull-%s-%s-%s -n %s --clusterrole=%s --serviceaccount=%s:%s",
		connectorKey.Name, namespace, serviceAccount, connectorKey.Namespace, connector.PullerClusterRole, namespace, serviceAccount)
}
