package main

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// X-Forwarded-For is believed only as far as the install's trusted hops:
// what a client writes to the left of them names nobody.
func TestClientOfTrustsOnlyTheConfiguredHops(t *testing.T) {
	for _, tc := range []struct {
		name string
		xff  []string
		hops int
		want string
	}{
		{"no proxy in front: the peer, whatever the header says", []string{"6.6.6.6"}, 0, "10.1.2.3"},
		{"no header", nil, 3, "10.1.2.3"},
		{"Knative behind Traefik with the activator", []string{"203.0.113.7, 10.0.0.5, 10.0.0.9"}, 3, "203.0.113.7"},
		{"Knative behind Traefik without the activator: the leftmost", []string{"203.0.113.7, 10.0.0.5"}, 3, "203.0.113.7"},
		{"a client's own entries left of the trusted ones are skipped", []string{"6.6.6.6, 7.7.7.7", "203.0.113.7, 10.0.0.5, 10.0.0.9"}, 3, "203.0.113.7"},
		{"one trusted hop", []string{"6.6.6.6, 198.51.100.1"}, 1, "198.51.100.1"},
	} {
		r, _ := http.NewRequest("GET", "/v2/", nil)
		r.RemoteAddr = "10.1.2.3:5555"
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := clientOf(r, tc.hops); got != tc.want {
			t.Errorf("%s: clientOf = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A rate-limited refusal waits out the delay, unless the tarpit is full or
// the client has gone: then it is answered at once.
func TestTarpit(t *testing.T) {
	tp := &tarpit{slots: make(chan struct{}, 1), delay: 50 * time.Millisecond}
	start := time.Now()
	tp.hold(context.Background())
	if d := time.Since(start); d < tp.delay {
		t.Errorf("held %s, want the delay of %s", d, tp.delay)
	}
	// From here a hold that waited would wait an hour.
	tp.delay = time.Hour
	returns := func(what string, ctx context.Context) {
		done := make(chan struct{})
		go func() { tp.hold(ctx); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: held", what)
		}
	}
	tp.slots <- struct{}{}
	returns("a full tarpit", context.Background())
	<-tp.slots
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	returns("a client that has gone", ctx)
}
