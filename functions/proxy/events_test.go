package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/pkg/identity/identitytest"
	"github.com/oci-connector/oci-connector/test/registry"
)

// recordedEvents keeps what the proxy sent.
type recordedEvents struct {
	mu  sync.Mutex
	all []cloudevents.Event
}

func (r *recordedEvents) Send(e cloudevents.Event) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, e)
	return true
}

func (r *recordedEvents) SendLowPriority(e cloudevents.Event) bool { return r.Send(e) }

func (r *recordedEvents) take() []cloudevents.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.all
	r.all = nil
	return out
}

func TestProxyEvents(t *testing.T) {
	reg := registry.NewHtpasswd(t)
	srv := newTestProxy(t, reg.URL, noop.NewMeterProvider())
	// Events name the image as it is upstream, whatever Host the client sent.
	host := strings.TrimPrefix(reg.URL, "http://")
	manifest := "/v2/testing/busybox/manifests/latest"

	for _, c := range []struct {
		name, method, path, token string
		wantType, wantReason      string // "" type: no event
		wantUser                  string
	}{
		{"a manifest served", "GET", manifest, goodToken, events.ImagePulled, "", "system:serviceaccount:ns:app"},
		{"a HEAD serves nothing", "HEAD", manifest, goodToken, "", "", ""},
		{"a blob is not an image pull", "GET", "/v2/testing/busybox/tags/list", goodToken, "", "", ""},
		{"no token", "GET", manifest, "", events.AccessDenied, events.ReasonNoToken, ""},
		{"a bad token", "GET", manifest, badToken, events.AccessDenied, events.ReasonBadToken, ""},
		{"no RBAC for push", "DELETE", manifest, goodToken, events.AccessDenied, events.ReasonNoRBAC, "system:serviceaccount:ns:app"},
		{"the catalog", "GET", "/v2/_catalog", goodToken, events.AccessDenied, events.ReasonOutOfScope, "system:serviceaccount:ns:app"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv.status(t, c.method, c.path, c.token)
			got := srv.events.take()
			if c.wantType == "" {
				if len(got) != 0 {
					t.Fatalf("events %v, want none", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("%d events, want one %s", len(got), c.wantType)
			}
			e := got[0]
			var data events.ImageData
			if err := json.Unmarshal(e.Data(), &data); err != nil {
				t.Fatal(err)
			}
			if e.Type() != c.wantType || data.Reason != c.wantReason || data.Identity.Username != c.wantUser {
				t.Errorf("event %s reason %q user %q; want %s %q %q", e.Type(), data.Reason, data.Identity.Username, c.wantType, c.wantReason, c.wantUser)
			}
			if e.Source() != events.Source("ns", "harbor") || data.Connector != "harbor" || data.Namespace != "ns" || data.UserAgent != "test-client/1.0" {
				t.Errorf("event %v with data %+v", e, data)
			}
			raw, _ := json.Marshal(e)
			for _, secret := range []string{registry.Password, badToken, "Basic "} {
				if strings.Contains(string(raw), secret) {
					t.Errorf("the event holds %q: %s", secret, raw)
				}
			}
			if c.path == manifest && e.Subject() != host+"/testing/busybox:latest" {
				t.Errorf("subject %q, want the image even when refused early", e.Subject())
			}
			if c.wantType == events.ImagePulled {
				if e.Subject() != host+"/testing/busybox:latest" || data.Repository != "testing/busybox" || data.Reference != "latest" ||
					!strings.HasPrefix(data.Digest, "sha256:") || data.Identity.UID != "u1" || data.Outcome != events.OutcomeAllowed {
					t.Errorf("image.pulled subject %q data %+v", e.Subject(), data)
				}
			}
		})
	}
}

// A client's anonymous GET /v2/ is the protocol's handshake, not a refusal
// worth a record; refusals of clients that have not logged in are
// aggregated per client and reason: the first goes out, the rest as one
// event with their count.
func TestUnauthenticatedRefusalsAreAggregated(t *testing.T) {
	reg := registry.NewHtpasswd(t)
	srv := newTestProxy(t, reg.URL, noop.NewMeterProvider())
	manifest := "/v2/testing/busybox/manifests/latest"
	if code := srv.status(t, "GET", "/v2/", ""); code != 401 {
		t.Fatalf("the handshake: %d", code)
	}
	if got := srv.events.take(); len(got) != 0 {
		t.Errorf("the anonymous handshake made %d events, want none", len(got))
	}
	for range 5 {
		srv.status(t, "GET", manifest, badToken)
	}
	first := srv.events.take()
	if len(first) != 1 {
		t.Fatalf("5 bad tokens made %d events at once, want 1", len(first))
	}
	srv.proxy.flushRefusals()
	rest := srv.events.take()
	if len(rest) != 1 {
		t.Fatalf("the interval's aggregate: %d events, want 1", len(rest))
	}
	var data events.ImageData
	if err := json.Unmarshal(rest[0].Data(), &data); err != nil {
		t.Fatal(err)
	}
	if data.Reason != events.ReasonBadToken || data.Count != 4 || data.Client != "127.0.0.1" || data.Repository != "testing/busybox" {
		t.Errorf("aggregate %+v, want 4 more BadToken refusals of 127.0.0.1 for testing/busybox", data)
	}
	srv.proxy.flushRefusals()
	if got := srv.events.take(); len(got) != 0 {
		t.Errorf("an interval with nothing counted made %d events", len(got))
	}
}

// A source that keeps failing to log in is answered 429, before any
// TokenReview; a valid token from the very same source is still served, so
// that clients behind one ingress address cannot lock each other out.
func TestFailedLoginsAreRateLimitedValidTokensAreServed(t *testing.T) {
	reg := registry.NewHtpasswd(t)
	srv := newTestProxy(t, reg.URL, noop.NewMeterProvider())
	// No tarpit here: its delay would refill the bucket between requests.
	srv.proxy.tarpit.delay = 0
	manifest := "/v2/testing/busybox/manifests/latest"
	get := func(token string) int {
		req, _ := http.NewRequest("GET", srv.URL+manifest, nil)
		req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
		if token != "" {
			req.SetBasicAuth("u", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// Fail until limited: the burst, and what refills while it is spent.
	forged := identitytest.NewSigner().Token(testAudience, "good", time.Now().Add(time.Hour))
	failed := 0
	for get(forged) != http.StatusTooManyRequests {
		if failed++; failed > 100*refusalBurst {
			t.Fatalf("%d failed logins in a row were never rate-limited", failed)
		}
	}
	if failed < refusalBurst {
		t.Errorf("limited after %d failed logins, want at least the burst of %d", failed, refusalBurst)
	}
	if srv.reviews.Load() != 0 {
		t.Errorf("forged tokens cost %d TokenReviews, want none", srv.reviews.Load())
	}
	if code := get(forged); code != http.StatusTooManyRequests {
		t.Errorf("the limited source's next forged token: %d, want 429", code)
	}
	if code := get(goodToken); code != http.StatusOK {
		t.Errorf("a valid token from the limited source: %d, want 200", code)
	}
}

// A refusal event names the client as far as the install trusts
// X-Forwarded-For, and the peer it came from beside it; what a client
// writes to the left of the trusted hops is not believed.
func TestRefusalEventsNameTheTrustedClientAndThePeer(t *testing.T) {
	reg := registry.NewHtpasswd(t)
	srv := newTestProxy(t, reg.URL, noop.NewMeterProvider())
	srv.proxy.forwardedHops = 1
	req, _ := http.NewRequest("GET", srv.URL+"/v2/testing/busybox/manifests/latest", nil)
	req.Header.Set("X-Forwarded-For", "6.6.6.6, 203.0.113.7")
	req.SetBasicAuth("u", badToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := srv.events.take()
	if len(got) != 1 {
		t.Fatalf("%d events, want 1", len(got))
	}
	var data events.ImageData
	if err := json.Unmarshal(got[0].Data(), &data); err != nil {
		t.Fatal(err)
	}
	if data.Client != "203.0.113.7" || data.Peer != "127.0.0.1" {
		t.Errorf("client %q peer %q, want the trusted hop's 203.0.113.7 and the peer 127.0.0.1", data.Client, data.Peer)
	}
}

// A client cannot choose the image an event names: the host is the
// configured upstream's, not the request's Host header.
func TestEventsNameTheUpstreamImageWhateverTheHostHeader(t *testing.T) {
	reg := registry.NewHtpasswd(t)
	srv := newTestProxy(t, reg.URL, noop.NewMeterProvider())
	req, _ := http.NewRequest("GET", srv.URL+"/v2/testing/busybox/manifests/latest", nil)
	req.Host = "registry.victim.example.com"
	req.SetBasicAuth("u", goodToken)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := srv.events.take()
	want := strings.TrimPrefix(reg.URL, "http://") + "/testing/busybox:latest"
	if len(got) != 1 || got[0].Subject() != want {
		t.Errorf("events %v, want one with subject %s", got, want)
	}
}
