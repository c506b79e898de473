package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/reviews"
	"github.com/oci-connector/oci-connector/pkg/ttlcache"
)

// Who may read the audit trail: anyone the API server authenticates (a
// bearer token for its own audience, in the Authorization header or the
// TokenCookie cookie) sees the events of the namespaces where RBAC lets
// them get connectors/audit; a team sees its own trail. The ClusterRole
// oci-connector-audit-reader grants it.
const (
	// TokenCookie carries a reader's token for the page.
	TokenCookie      = "oci-connector-token"
	AuditSubresource = "audit"
)

// readerAuth decides what a reader may see.
type readerAuth struct {
	reviews reviews.SubjectAccessReviews
	users   *tokenUsers
	access  *ttlcache.Cache[bool]
}

func newReaderAuth(sars reviews.SubjectAccessReviews, users *tokenUsers) *readerAuth {
	return &readerAuth{reviews: sars, users: users, access: ttlcache.New[bool](tokenCacheEntries)}
}

// readerToken is the token of a reader's request: a bearer token, or the
// page's cookie.
func readerToken(r *http.Request) string {
	if token := bearerToken(r); token != "" {
		return token
	}
	if c, err := r.Cookie(TokenCookie); err == nil {
		return c.Value
	}
	return ""
}

// scope says which namespaces' events the reader of r may see: all of them
// (nil), or those of candidates RBAC allows.
func (a *readerAuth) scope(r *http.Request, candidates func(context.Context) ([]string, error)) ([]string, error) {
	ctx := r.Context()
	token := readerToken(r)
	if token == "" {
		return nil, &httpError{http.StatusUnauthorized, "log in: send a Kubernetes token as a bearer token (or the " + TokenCookie + " cookie)"}
	}
	user, err := a.users.user(ctx, token, nil)
	if err != nil {
		return nil, err
	}
	all, err := a.mayRead(ctx, user, "")
	if err != nil {
		return nil, err
	}
	if all {
		return nil, nil
	}
	namespaces, err := candidates(ctx)
	if err != nil {
		return nil, err
	}
	allowed := []string{}
	for _, ns := range namespaces {
		ok, err := a.mayRead(ctx, user, ns)
		if err != nil {
			return nil, err
		}
		if ok {
			allowed = append(allowed, ns)
		}
	}
	return allowed, nil
}

// mayRead asks whether user may get connectors/audit in namespace (all
// namespaces when empty).
func (a *readerAuth) mayRead(ctx context.Context, user *authenticationv1.UserInfo, namespace string) (bool, error) {
	key := user.Username + "|" + user.UID + "|" + strings.Join(user.Groups, ",") + "|" + namespace
	ok, _, err := a.access.Get(ctx, key, func(ctx context.Context) (bool, time.Duration, error) {
		extra := make(map[string]authorizationv1.ExtraValue, len(user.Extra))
		for k, v := range user.Extra {
			extra[k] = authorizationv1.ExtraValue(v)
		}
		sar, err := a.reviews.Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User: user.Username, UID: user.UID, Groups: user.Groups, Extra: extra,
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: namespace, Verb: "get", Group: connector.GroupName, Resource: "connectors", Subresource: AuditSubresource,
				},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			return false, 0, fmt.Errorf("SubjectAccessReview: %w", err)
		}
		return sar.Status.Allowed, tokenCacheTTL, nil
	})
	if err != nil {
		return false, &httpError{http.StatusServiceUnavailable, "cannot check access right now; retry"}
	}
	return ok, nil
}
