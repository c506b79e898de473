package main

import (
	"context"
	"net/http"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/oci-connector/oci-connector/pkg/events"
)

// podNameExtra is where TokenReview names the pod a token is bound to.
const podNameExtra = "authentication.kubernetes.io/pod-name"

// eventSender is where the proxy's events go: an events.Sender, which never
// blocks.
type eventSender interface {
	Send(cloudevents.Event) bool
	// SendLowPriority sends only while the queue has room for pulls and
	// pushes.
	SendLowPriority(cloudevents.Event) bool
}

// served is what the proxy did for a request beyond its status and
// headers: where a pulled manifest came from (the cache), and the subject
// of a pushed referrer.
type served struct {
	cache, subject string
}

// emit sends the event a finished request calls for, if any: a manifest
// served, a manifest stored, or a refusal that is an access decision. A
// client's anonymous handshake is not recorded (the request metrics count
// it), and unauthenticated refusals are aggregated per client and reason.
func (p *proxy) emit(r *http.Request, status int, header http.Header, a admission, s served) {
	if p.events == nil {
		return
	}
	var typ, outcome, reason string
	switch {
	case a.handshake():
		return
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
	// when its path says which. The image is named as it is upstream: the
	// host is the configured upstream's, never the client's Host header.
	if a.routed && a.route.name != "" {
		data.Repository = a.route.name
		subject = p.imageHost + "/" + a.route.name
		if a.route.kind == routeManifest {
			data.Reference = a.route.reference
			subject += referenceSuffix(a.route.reference)
		}
	}
	if typ != events.AccessDenied {
		data.Digest = header.Get("Docker-Content-Digest")
	}
	switch typ {
	case events.ImagePulled:
		data.Cache = s.cache
	case events.ImagePushed:
		data.Subject = s.subject
	}
	if a.unauthenticated() {
		data.Client = a.client
		if a.peer != a.client {
			data.Peer = a.peer
		}
		if !p.refusals.admit(a.client, reason, refusedImage{subject: subject, repository: data.Repository, reference: data.Reference, userAgent: data.UserAgent}) {
			return // counted; it goes out with the interval's aggregate
		}
	}
	p.send(typ, subject, data, typ == events.AccessDenied)
}

// send builds and queues an event; refusals only while the queue has room
// for pulls and pushes.
func (p *proxy) send(typ, subject string, data events.ImageData, lowPriority bool) {
	e, err := events.New(typ, p.namespace, p.name, subject, data)
	if err != nil {
		p.logger.Errorw("Cannot build an event", "type", typ, "error", err)
		return
	}
	if lowPriority {
		p.events.SendLowPriority(e)
		return
	}
	p.events.Send(e)
}

// flushRefusalsEvery sends, each interval, one event per client and reason
// for the unauthenticated refusals counted after the first.
func (p *proxy) flushRefusalsEvery(ctx context.Context, interval time.Duration) {
	wait.UntilWithContext(ctx, func(context.Context) { p.flushRefusals() }, interval)
}

func (p *proxy) flushRefusals() {
	for key, agg := range p.refusals.drain() {
		if agg.more == 0 {
			continue
		}
		p.send(events.AccessDenied, agg.first.subject, events.ImageData{
			Connector: p.name, Namespace: p.namespace,
			Repository: agg.first.repository, Reference: agg.first.reference, UserAgent: agg.first.userAgent,
			Outcome: events.OutcomeDenied, Reason: key[1], Client: key[0], Count: agg.more,
		}, true)
	}
}

// referenceSuffix spells a tag or digest after a repository.
func referenceSuffix(ref string) string {
	if strings.Contains(ref, ":") {
		return "@" + ref
	}
	return ":" + ref
}
