package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"go.uber.org/zap"

	"github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/pkg/identity"
)

// admission is the proxy's decision on one request, as a value: who asked,
// to do what, where, and either the upstream scopes to forward with or the
// refusal to answer with. The handler, the access log, the metrics and the
// events all read it.
type admission struct {
	// client is who sent a request refused for want of a login
	// (clientOf); peer the address it came from. Unset otherwise.
	client, peer string
	verb         connector.Verb
	// route is the parsed path; routed says whether it parsed.
	route  route
	routed bool
	// id is who the token belongs to; nil until authenticated.
	id *identity.User
	// scopes are the upstream token scopes of an admitted request.
	scopes []string
	// query is what of the request's query goes upstream, re-encoded.
	query string
	// refusal, when set, is the answer instead of forwarding.
	refusal *refusal
}

// refusal is an answer the proxy gives itself.
type refusal struct {
	status  int
	code    string // the OCI error code
	message string
	// reason is the access log's word for it.
	reason string
	// denied is the access.denied reason; empty when the refusal is not an
	// access decision (a malformed request, an API server outage).
	denied string
	// challenge asks the client to log in (401).
	challenge bool
}

func (a admission) refuse(r *refusal) admission {
	a.refusal = r
	return a
}

// handshake says whether this is a client's anonymous GET /v2/ before it
// logs in: the protocol's normal first step, not a refusal worth a record.
func (a admission) handshake() bool {
	return a.refusal != nil && a.refusal.denied == events.ReasonNoToken && a.routed && a.route.kind == routeBase
}

// rateLimited says whether the request was refused because its source
// failed to log in too often.
func (a admission) rateLimited() bool {
	return a.refusal != nil && a.refusal.status == http.StatusTooManyRequests
}

// unauthenticated says whether the request was refused for want of a
// valid login.
func (a admission) unauthenticated() bool {
	return a.refusal != nil && a.refusal.challenge
}

// routeLabel names the route for metrics and the access log.
func (a admission) routeLabel() string {
	if !a.routed {
		return "unknown"
	}
	return routeNames[a.route.kind]
}

// admit decides on r in three steps: who is asking, what they ask for, and
// whether the Connector's scope allows it. It parses the path once, but
// answers a client that has not logged in with 401 before telling it the
// path is wrong.
func (p *proxy) admit(r *http.Request) admission {
	rt, routeErr := parseRoute(r.URL.Path)
	a := admission{route: rt, routed: routeErr == nil}
	if a = p.authenticateStep(r, a); a.refusal != nil {
		return a
	}
	if a = p.routeStep(r, a, routeErr); a.refusal != nil || a.route.kind == routeBase {
		return a
	}
	return p.scopeStep(r, a)
}

// authenticateStep finds who sent r. A valid token is served whatever the
// limiter says; a client whose failures exhausted its limit is answered 429.
func (p *proxy) authenticateStep(r *http.Request, a admission) admission {
	verb, ok := verbFor(r.Method)
	a.verb = verb
	if !ok {
		return a.refuse(&refusal{status: http.StatusMethodNotAllowed, code: codeUnsupported, message: "method not allowed", reason: "method"})
	}
	token, err := identity.Token(r)
	if err == nil {
		a.id, err = p.authn.authenticate(r.Context(), token)
		if err == nil {
			return a
		}
	}
	// Who sent it matters only to a refusal: a logged-in request never
	// reads X-Forwarded-For.
	a.client, a.peer = clientOf(r, p.forwardedHops), peerOf(r)
	if p.limiter.exhausted(a.client) {
		return a.refuse(&refusal{status: http.StatusTooManyRequests, code: codeTooManyRequests,
			message: "too many failed logins from " + a.client + "; wait a moment", reason: "rate limited"})
	}
	switch {
	case errors.Is(err, identity.ErrNoToken):
		return a.refuse(&refusal{status: http.StatusUnauthorized, code: codeUnauthorized, challenge: true,
			message: "authentication required: log in with any username and a ServiceAccount token as the password",
			reason:  "no token", denied: events.ReasonNoToken})
	case errors.Is(err, identity.ErrBadToken):
		return a.refuse(&refusal{status: http.StatusUnauthorized, code: codeUnauthorized, challenge: true,
			message: fmt.Sprintf("the token is not valid for this proxy: it must be an unexpired ServiceAccount token with audience %q", p.authn.audiences[0]),
			reason:  "bad token", denied: events.ReasonBadToken})
	default:
		p.logger.Errorw("Cannot check a token", zap.Error(err))
		return a.refuse(&refusal{status: http.StatusServiceUnavailable, code: codeUnknown,
			message: "cannot check the token right now; try again", reason: "authn unavailable"})
	}
}

// routeStep refuses a path that did not parse, asks RBAC for the verb, and
// answers what the proxy serves itself.
func (p *proxy) routeStep(r *http.Request, a admission, routeErr error) admission {
	if routeErr != nil {
		var re *routeError
		errors.As(routeErr, &re)
		status := http.StatusBadRequest
		if re.code == codeUnsupported {
			status = http.StatusNotFound
		}
		return a.refuse(&refusal{status: status, code: re.code, message: re.message, reason: "bad route"})
	}
	if ref := p.authorize(r.Context(), a.id, a.verb); ref != nil {
		return a.refuse(ref)
	}
	if a.route.kind == routeCatalog {
		return a.refuse(&refusal{status: http.StatusForbidden, code: codeDenied,
			message: "the catalog is not served through the proxy; list the tags of a repository instead",
			reason:  "catalog", denied: events.ReasonOutOfScope})
	}
	return a
}

// scopeStep checks the repository, the query, a cross-repository mount and
// a manifest's size, and gives the upstream scopes to forward with.
func (p *proxy) scopeStep(r *http.Request, a admission) admission {
	rt := a.route
	if !p.scope.allows(rt.name, a.verb) {
		return a.refuse(outOfScope(fmt.Sprintf("repository %q is outside the scope of connector %s for %s", rt.name, p.connector, a.verb)))
	}
	query, forwarded, ref := queryFor(r.Method, rt, r.URL.RawQuery)
	if ref != nil {
		return a.refuse(ref)
	}
	a.query = forwarded
	mountFrom := ""
	if rt.kind == routeUpload && r.Method == http.MethodPost && (query.Has("mount") || query.Has("from")) {
		if mountFrom = query.Get("from"); mountFrom == "" {
			// Without from, a registry may look for the blob in any
			// repository it can read: a cross-repository mount whose source
			// no scope check could see.
			return a.refuse(&refusal{status: http.StatusBadRequest, code: codeUnsupported,
				message: "a blob mount must name its source repository with from", reason: "bad route"})
		}
		if !nameRE.MatchString(mountFrom) {
			return a.refuse(&refusal{status: http.StatusBadRequest, code: codeNameInvalid,
				message: fmt.Sprintf("invalid mount source %q", mountFrom), reason: "bad route"})
		}
		if !p.scope.allows(mountFrom, connector.VerbPull) {
			return a.refuse(outOfScope(fmt.Sprintf("mount source %q is outside the scope of connector %s", mountFrom, p.connector)))
		}
		// Mounting reads the source: the caller must be allowed to pull too.
		if ref := p.authorize(r.Context(), a.id, connector.VerbPull); ref != nil {
			return a.refuse(ref)
		}
	}
	if rt.kind == routeManifest && r.Method == http.MethodPut && r.ContentLength > maxManifestBytes {
		return a.refuse(&refusal{status: http.StatusRequestEntityTooLarge, code: codeManifestInvalid,
			message: "manifest too large", reason: "too large"})
	}
	a.scopes = scopesFor(rt.name, a.verb == connector.VerbPush, mountFrom)
	return a
}

func outOfScope(message string) *refusal {
	return &refusal{status: http.StatusForbidden, code: codeDenied, message: message, reason: "out of scope", denied: events.ReasonOutOfScope}
}

// authorize asks RBAC; nil means yes.
func (p *proxy) authorize(ctx context.Context, id *identity.User, verb connector.Verb) *refusal {
	ok, err := p.authz.allowed(ctx, id, verb)
	if err != nil {
		p.logger.Errorw("Cannot check access", zap.Error(err))
		return &refusal{status: http.StatusServiceUnavailable, code: codeUnknown,
			message: "cannot check access right now; try again", reason: "authz unavailable"}
	}
	if ok {
		return nil
	}
	return &refusal{status: http.StatusForbidden, code: codeDenied, reason: "no RBAC", denied: events.ReasonNoRBAC,
		message: fmt.Sprintf("%s may not %s through connector %s; bind the ClusterRole %s to it in that namespace",
			id.Username, verb, p.connector, connector.RoleFor(string(verb)))}
}

// writeRefusal is the one place refusals are written.
func (p *proxy) writeRefusal(w http.ResponseWriter, ref *refusal) {
	if ref.challenge {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", p.connector))
	}
	writeError(w, ref.status, ref.code, ref.message)
}
