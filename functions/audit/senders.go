package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/oci-connector/oci-connector/pkg/access"
	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/pkg/identity"
)

// Who may write to the audit trail: a sender presents a ServiceAccount
// token for events.AuditAudience, signed by the cluster (checked locally)
// and accepted by TokenReview. Then:
//   - in the install namespace, the controller and tokenrefresh record
//     events about any Connector;
//   - in any other namespace, the proxy's ServiceAccount records events
//     about that namespace's Connectors only;
//   - nobody else records anything.

// sender is who may record what: any namespace (all) or one.
type sender struct {
	username  string
	all       bool
	namespace string
}

// senderAuth checks the senders of events.
type senderAuth struct {
	authn *identity.Authenticator
	// system are the usernames that record events about any Connector.
	system []string
}

func newSenderAuth(authn *identity.Authenticator, systemNamespace string) *senderAuth {
	return &senderAuth{authn: authn, system: []string{
		access.ServiceAccount(systemNamespace, connectorapi.ControllerServiceAccount).Username,
		access.ServiceAccount(systemNamespace, connectorapi.TokenRefreshServiceAccount).Username,
	}}
}

// sender authenticates r's sender from its headers alone, once for all the
// events of a request, before its body is read.
func (a *senderAuth) sender(r *http.Request) (sender, error) {
	token, err := identity.Token(r)
	if err != nil {
		return sender{}, &httpError{http.StatusUnauthorized, "present a ServiceAccount token for the audience " + events.AuditAudience + " as a bearer token"}
	}
	user, _, err := a.authn.Authenticate(r.Context(), token, []string{events.AuditAudience})
	if err != nil {
		return sender{}, authError(err, " for the audience "+events.AuditAudience)
	}
	if slices.Contains(a.system, user.Username) {
		return sender{username: user.Username, all: true}, nil
	}
	namespace, name := serviceAccountOf(user.Username)
	if name != connectorapi.ProxyServiceAccount {
		return sender{}, &httpError{http.StatusForbidden, user.Username + " may not record events: only the controller, tokenrefresh and the proxies' ServiceAccount " + connectorapi.ProxyServiceAccount + " may"}
	}
	return sender{username: user.Username, namespace: namespace}, nil
}

// mayRecord says whether s may record e.
func (s sender) mayRecord(e *cloudevents.Event) error {
	if about := eventNamespace(e); !s.all && about != s.namespace {
		return &httpError{http.StatusForbidden, fmt.Sprintf("%s may not record events about Connectors in %q", s.username, about)}
	}
	return nil
}

// authError is the answer to a token identity refused, or could not check.
func authError(err error, forWhat string) *httpError {
	if errors.Is(err, identity.ErrBadToken) {
		return &httpError{http.StatusUnauthorized, "the token is not accepted" + forWhat}
	}
	return &httpError{http.StatusServiceUnavailable, "cannot check the token right now; retry"}
}

// httpError is a refusal with its HTTP status.
type httpError struct {
	status  int
	message string
}

func (e *httpError) Error() string { return e.message }

// serviceAccountOf is the namespace and name of a ServiceAccount's
// username; empty for any other user.
func serviceAccountOf(username string) (namespace, name string) {
	rest, ok := strings.CutPrefix(username, "system:serviceaccount:")
	if !ok {
		return "", ""
	}
	namespace, name, _ = strings.Cut(rest, ":")
	return namespace, name
}

// eventNamespace is the namespace of the Connector an event is about: its
// data says so, and so must its source.
func eventNamespace(e *cloudevents.Event) string {
	var d struct {
		Namespace string `json:"namespace"`
	}
	_ = json.Unmarshal(e.Data(), &d)
	if e.Source() != events.Source(d.Namespace, sourceName(e.Source())) {
		return "" // data and source disagree: no namespace matches
	}
	return d.Namespace
}

// sourceName is the Connector name at the end of an event source.
func sourceName(source string) string {
	return source[strings.LastIndex(source, "/")+1:]
}
