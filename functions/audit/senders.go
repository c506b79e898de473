package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/oci-connector/oci-connector/pkg/events"
)

// Who may write to the audit trail: a sender presents a ServiceAccount
// token for events.AuditAudience; TokenReview says whose. An event about a
// Connector comes from that Connector's namespace (its proxy), or from the
// install namespace (the controller, tokenrefresh).

// senderAuth checks the senders of events.
type senderAuth struct {
	users           *tokenUsers
	systemNamespace string
}

func newSenderAuth(users *tokenUsers, systemNamespace string) *senderAuth {
	return &senderAuth{users: users, systemNamespace: systemNamespace}
}

// sender authenticates r's sender, once for all the events of a request,
// and returns its namespace.
func (a *senderAuth) sender(r *http.Request) (namespace string, err error) {
	token := bearerToken(r)
	if token == "" {
		return "", &httpError{http.StatusUnauthorized, "present a ServiceAccount token for the audience " + events.AuditAudience + " as a bearer token"}
	}
	user, err := a.users.user(r.Context(), token, []string{events.AuditAudience})
	if err != nil {
		return "", err
	}
	if namespace = clientNamespace(user.Username); namespace == "" {
		return "", &httpError{http.StatusForbidden, "only ServiceAccounts record events"}
	}
	return namespace, nil
}

// mayRecord says whether a sender in namespace may record e.
func (a *senderAuth) mayRecord(namespace string, e *cloudevents.Event) error {
	if about := eventNamespace(e); namespace != a.systemNamespace && namespace != about {
		return &httpError{http.StatusForbidden, fmt.Sprintf("a sender in namespace %s may not record events about Connectors in %q", namespace, about)}
	}
	return nil
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
