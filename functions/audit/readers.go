package main

import (
	"context"
	"net/http"

	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/identity"
)

// Who may read the audit trail: anyone the API server authenticates (a
// bearer token for its own audience, or the page's session) sees the
// events of the namespaces where RBAC lets them get connectors/audit; a
// team sees its own trail. The ClusterRole oci-connector-audit-reader
// grants it.
const AuditSubresource = "audit"

// readerAuth decides what a reader may see.
type readerAuth struct {
	// authn accepts foreign issuers: readers are people too.
	authn    *identity.Authenticator
	authz    *identity.Authorizer
	sessions *sessions
}

// readerToken is the token of a reader's request: a bearer token, or the
// one the page's session holds.
func (a *readerAuth) readerToken(r *http.Request) string {
	if token, err := identity.Token(r); err == nil {
		return token
	}
	return a.sessions.token(r)
}

// scope says which namespaces' events the reader of r may see: all of them
// (nil), or those of candidates RBAC allows.
func (a *readerAuth) scope(r *http.Request, candidates func(context.Context) ([]string, error)) ([]string, error) {
	ctx := r.Context()
	token := a.readerToken(r)
	if token == "" {
		return nil, &httpError{http.StatusUnauthorized, "log in: send a Kubernetes token as a bearer token, or log in on the page"}
	}
	user, _, err := a.authn.Authenticate(ctx, token, nil)
	if err != nil {
		return nil, authError(err, " by the API server")
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
func (a *readerAuth) mayRead(ctx context.Context, user identity.User, namespace string) (bool, error) {
	ok, _, err := a.authz.Allowed(ctx, user, authorizationv1.ResourceAttributes{
		Namespace: namespace, Verb: "get", Group: connector.GroupName, Resource: "connectors", Subresource: AuditSubresource,
	})
	if err != nil {
		return false, &httpError{http.StatusServiceUnavailable, "cannot check access right now; retry"}
	}
	return ok, nil
}
