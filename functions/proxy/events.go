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

// emit sends the event a finished request calls for, if any: a manifest
// served, a manifest stored, or a refusal that is an access decision.
func (p *proxy) emit(r *http.Request, status int, header http.Header, a admission) {
	if p.events == nil {
		return
	}
	var typ, outcome, reason string
	switch {
	case a.refusal != nil && a.refusal.denied != "":
		typ, outcome, reason = events.AccessDenied, events.OutcomeDenied, a.refusal.denied
	case a.refusal != nil:
		return
	case a.route.kind == routeManifest && r.Method == http.MethodGet && status == http.StatusOK:
		typ, outcome = events.ImagePulled, events.OutcomeAllowed
	case a.route.kind == routeManifest && r.Method == http.MethodPut && status == http.StatusCreated:
		typ, outcome = events.ImagePushed, events.OutcomeAllowed
	default:
		return
	}
	data := events.ImageData{
		Connector: p.name,
		Namespace: p.namespace,
		UserAgent: r.UserAgent(),
		Outcome:   outcome,
		Reason:    reason,
	}
	if a.id != nil {
		data.Identity = events.Identity{Username: a.id.Username, UID: a.id.UID}
		if pods := a.id.Extra[podNameExtra]; len(pods) == 1 {
			data.Identity.Pod = pods[0]
		}
	}
	subject := ""
	// A request refused before it was authenticated names its image too,
	// when its path says which.
	if a.routed && a.route.name != "" {
		data.Repository = a.route.name
		subject = r.Host + "/" + a.route.name
		if a.route.kind == routeManifest {
			data.Reference = a.route.reference
			subject += referenceSuffix(a.route.reference)
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
