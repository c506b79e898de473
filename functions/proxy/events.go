package main

import (
	"net/http"
	"strings"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/oci-connector/oci-connector/pkg/events"
)

// podNameExtra is where TokenReview names the pod a token is bound to.
const podNameExtra = "authentication.kubernetes.io/pod-name"

// eventSender is where the proxy's events go: an events.Sender, which never
// blocks.
type eventSender interface {
	Send(cloudevents.Event) bool
}

// deniedReasons maps the access log's refusals to access.denied reasons.
var deniedReasons = map[string]string{
	"no token":     events.ReasonNoToken,
	"bad token":    events.ReasonBadToken,
	"no RBAC":      events.ReasonNoRBAC,
	"out of scope": events.ReasonOutOfScope,
	"catalog":      events.ReasonOutOfScope,
}

// emit sends the event a finished request calls for, if any: a manifest
// served, a manifest stored, or a refusal of the proxy's own.
func (p *proxy) emit(r *http.Request, status int, header http.Header, entry *accessEntry) {
	if p.events == nil {
		return
	}
	var typ, outcome, reason string
	switch {
	case deniedReasons[entry.reason] != "":
		typ, outcome, reason = events.AccessDenied, events.OutcomeDenied, deniedReasons[entry.reason]
	case entry.kind == routeManifest && r.Method == http.MethodGet && status == http.StatusOK:
		typ, outcome = events.ImagePulled, events.OutcomeAllowed
	case entry.kind == routeManifest && r.Method == http.MethodPut && status == http.StatusCreated:
		typ, outcome = events.ImagePushed, events.OutcomeAllowed
	default:
		return
	}
	if entry.repository == "" {
		// Refused before its route was read (no token, a bad token): name
		// the image anyway when the path says which.
		if rt, err := parseRoute(r.URL.Path); err == nil {
			entry.repository, entry.kind, entry.reference = rt.name, rt.kind, rt.reference
		}
	}
	data := events.ImageData{
		Connector:  p.name,
		Namespace:  p.namespace,
		Repository: entry.repository,
		Identity:   events.Identity{Username: entry.user, UID: entry.uid, Pod: entry.pod},
		UserAgent:  r.UserAgent(),
		Outcome:    outcome,
		Reason:     reason,
	}
	subject := ""
	if entry.repository != "" {
		subject = r.Host + "/" + entry.repository
		if entry.kind == routeManifest {
			data.Reference = entry.reference
			subject += referenceSuffix(entry.reference)
		}
	}
	if typ != events.AccessDenied {
		data.Digest = header.Get("Docker-Content-Digest")
	}
	e, err := events.New(typ, p.namespace, p.name, subject, data)
	if err != nil {
		p.logger.Errorw("Cannot build an event", "type", typ, "error", err)
		return
	}
	p.events.Send(e)
}

// referenceSuffix spells a tag or digest after a repository.
func referenceSuffix(ref string) string {
	if strings.Contains(ref, ":") {
		return "@" + ref
	}
	return ":" + ref
}
