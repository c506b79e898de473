package identity

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SubjectAccessReviews creates SubjectAccessReviews.
type SubjectAccessReviews interface {
	Create(ctx context.Context, review *authorizationv1.SubjectAccessReview, opts metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error)
}

// An answer is kept for seconds, so that a revoked RoleBinding takes effect
// almost at once; a refusal for less, so that a new one does too.
const (
	DefaultAllowedTTL = 10 * time.Second
	DefaultDeniedTTL  = 2 * time.Second
	accessEntries     = 10000
)

// Authorizer asks SubjectAccessReview whether a user may act on a resource.
type Authorizer struct {
	reviews               SubjectAccessReviews
	answers               *answers[struct{}]
	allowedTTL, deniedTTL time.Duration
}

// NewAuthorizer keeps answers for allowedTTL and deniedTTL (zero: asks
// every time, collapsing only concurrent asks).
func NewAuthorizer(sars SubjectAccessReviews, allowedTTL, deniedTTL time.Duration) *Authorizer {
	return &Authorizer{reviews: sars, answers: newAnswers[struct{}](accessEntries, accessEntries), allowedTTL: allowedTTL, deniedTTL: deniedTTL}
}

// Allowed says whether user may do attrs, and whether the answer was kept
// from before.
func (a *Authorizer) Allowed(ctx context.Context, user User, attrs authorizationv1.ResourceAttributes) (allowed, cached bool, err error) {
	ans, cached, err := a.answers.get(ctx, accessKey(user, attrs), func(ctx context.Context) (loaded[struct{}], error) {
		sar, err := a.reviews.Create(ctx, accessReview(user, attrs), metav1.CreateOptions{})
		if err != nil {
			return loaded[struct{}]{}, fmt.Errorf("SubjectAccessReview: %w", err)
		}
		if sar.Status.Allowed {
			return loaded[struct{}]{yes: true, ttl: a.allowedTTL}, nil
		}
		return loaded[struct{}]{ttl: a.deniedTTL}, nil
	})
	return ans.yes, cached, err
}

func accessReview(user User, attrs authorizationv1.ResourceAttributes) *authorizationv1.SubjectAccessReview {
	extra := make(map[string]authorizationv1.ExtraValue, len(user.Extra))
	for k, v := range user.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	return &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user.Username, UID: user.UID, Groups: user.Groups, Extra: extra, ResourceAttributes: &attrs,
	}}
}

// accessKey covers everything the review sends: the whole user, Extra
// sorted so that map order does not split one user over several keys, and
// every resource attribute.
func accessKey(user User, attrs authorizationv1.ResourceAttributes) string {
	extra := make([]string, 0, len(user.Extra))
	for k, v := range user.Extra {
		extra = append(extra, k+"="+strings.Join(v, "\x01"))
	}
	slices.Sort(extra)
	return strings.Join([]string{
		user.UID, user.Username, strings.Join(user.Groups, "\x01"), strings.Join(extra, "\x02"),
		attrs.Namespace, attrs.Verb, attrs.Group, attrs.Version, attrs.Resource, attrs.Subresource, attrs.Name,
	}, "\x00")
}
