package main

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/utils/lru"
)

// Unauthenticated refusals cost the proxy almost nothing (a token's
// signature is checked locally; a forged one never reaches TokenReview),
// but a flood of them must not crowd out real work or the audit trail:
//   - each client may fail to log in refusalRate times a second (burst
//     refusalBurst); beyond that its failures are answered 429. A request
//     whose token is valid is always served: another client's garbage can
//     fill a shared bucket (behind an ingress they may look alike), never
//     lock out a valid client;
//   - a 429 is answered after refusalDelay (a tarpit: a timer, no CPU), so a
//     client that waits for each answer, as HTTP/1.1 clients do, sends at
//     most one forged token per connection per refusalDelay; no more than
//     maxTarpitted wait at once, and beyond that the answer is immediate;
//   - their events are aggregated: the first of a client and reason in an
//     interval goes out, the rest are counted and go out as one event at the
//     interval's end;
//   - they go into the event queue only while it has room for pulls and
//     pushes (events.Sender.SendLowPriority).
const (
	refusalRate      = 10
	refusalBurst     = 50
	refusalDelay     = 250 * time.Millisecond
	maxTarpitted     = 1024
	refusalInterval  = 10 * time.Second
	trackedClients   = 10000
	maxAggregateKeys = 10000
)

// clientOf names a request's client for the refusal limits and events:
// the peer's address, or, behind proxies the install trusts, the address
// the outermost of them saw. Each trusted proxy appends the address it was
// reached from to X-Forwarded-For, so with hops trusted proxies the client
// is the hops-th entry from the end; anything further left was written by
// the client and is not believed. With fewer entries than hops (a shorter
// path, such as Knative without its activator) the leftmost is taken.
// hops is 0 for a proxy reached directly; see docs/security.md for Knative.
func clientOf(r *http.Request, hops int) string {
	host := peerOf(r)
	if hops <= 0 {
		return host
	}
	var entries []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for _, e := range strings.Split(v, ",") {
			entries = append(entries, strings.TrimSpace(e))
		}
	}
	if len(entries) == 0 {
		return host
	}
	if client := entries[max(0, len(entries)-hops)]; client != "" {
		return client
	}
	return host
}

// peerOf is the address of the connection a request came on.
func peerOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// refusalLimiter bounds how often each client may fail to log in.
type refusalLimiter struct {
	byClient *lru.Cache
	mu       sync.Mutex
}

func newRefusalLimiter() *refusalLimiter {
	return &refusalLimiter{byClient: lru.New(trackedClients)}
}

// exhausted says whether client has failed too often to be heard now. It
// only looks: a client that never failed gets no limiter, so the request
// path of clients that log in keeps no state for them.
func (l *refusalLimiter) exhausted(client string) bool {
	v, ok := l.byClient.Get(client)
	return ok && v.(*rate.Limiter).Tokens() < 1
}

// failed records one failed login of client.
func (l *refusalLimiter) failed(client string) {
	l.mu.Lock()
	v, ok := l.byClient.Get(client)
	if !ok {
		v = rate.NewLimiter(refusalRate, refusalBurst)
		l.byClient.Add(client, v)
	}
	l.mu.Unlock()
	v.(*rate.Limiter).Allow()
}

// refusalAggregate counts the refusals of one client for one reason in the
// current interval, after the first.
type refusalAggregate struct {
	first refusedImage
	more  int
}

// refusedImage is what an aggregated refusal event says of the first
// refusal: the image and the client program.
type refusedImage struct {
	subject, repository, reference, userAgent string
}

// refusalAggregator decides which unauthenticated refusals become events.
type refusalAggregator struct {
	mu      sync.Mutex
	pending map[[2]string]*refusalAggregate
}

func newRefusalAggregator() *refusalAggregator {
	return &refusalAggregator{pending: map[[2]string]*refusalAggregate{}}
}

// admit says whether this refusal goes out now: the first of its client and
// reason in the interval does, the rest are counted.
func (a *refusalAggregator) admit(client, reason string, e refusedImage) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	key := [2]string{client, reason}
	if agg, ok := a.pending[key]; ok {
		agg.more++
		return false
	}
	if len(a.pending) >= maxAggregateKeys {
		return false // counted nowhere: the flood itself is in the metrics
	}
	a.pending[key] = &refusalAggregate{first: e}
	return true
}

// drain returns what was counted since the last drain, and starts a new
// interval.
func (a *refusalAggregator) drain() map[[2]string]*refusalAggregate {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.pending
	a.pending = map[[2]string]*refusalAggregate{}
	return out
}

// tarpit holds rate-limited refusals for refusalDelay before they are
// answered, at most maxTarpitted at once.
type tarpit struct {
	slots chan struct{}
	delay time.Duration
}

func newTarpit() *tarpit {
	return &tarpit{slots: make(chan struct{}, maxTarpitted), delay: refusalDelay}
}

// hold waits out the delay, or returns at once when the tarpit is full or
// ctx ends.
func (t *tarpit) hold(ctx context.Context) {
	select {
	case t.slots <- struct{}{}:
	default:
		return
	}
	defer func() { <-t.slots }()
	timer := time.NewTimer(t.delay)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}
