package main

import (
	"context"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/oci-connector/oci-connector/pkg/apis/connector"
)

const (
	// readinessTTL bounds how often probes reach the upstream.
	readinessTTL = 2 * time.Second
	// readinessTimeout bounds one check: an upstream that does not answer
	// leaves the proxy ready.
	readinessTimeout = 5 * time.Second
)

// readiness answers the revision's readiness probe at
// connector.ProxyReadinessPath (Knative probes the one port a revision
// serves; no registry path starts so). A proxy is not ready
// while the upstream refuses every credential it holds: then a revision
// made for a new Secret (the Secret's digest is on the revision template)
// gets no traffic until the registry takes the new password, and the
// previous revision, whose mounted Secret changed in place, keeps serving
// with the password before it (rotation.go). So rotating in the order the
// README gives fails no pull. An upstream that is down, slow or failing
// (no answer, 5xx, 429) leaves the proxy ready: it answers clients with a
// clear error, and an outage must not take every replica out.
type readiness struct {
	upstream *upstream

	mu      sync.Mutex
	checked time.Time
	ready   bool
	group   singleflight.Group
}

func (rd *readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rd.isReady(r.Context()) {
		w.WriteHeader(http.StatusOK)
		return
	}
	// Nothing more: the reason is in the Connector's conditions and the
	// proxy's log, not for whoever asks.
	w.WriteHeader(http.StatusServiceUnavailable)
}

func (rd *readiness) isReady(ctx context.Context) bool {
	rd.mu.Lock()
	if time.Since(rd.checked) < readinessTTL {
		ready := rd.ready
		rd.mu.Unlock()
		return ready
	}
	rd.mu.Unlock()
	v, _, _ := rd.group.Do("", func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readinessTimeout)
		defer cancel()
		ready := rd.upstream.takesCredentials(ctx)
		rd.mu.Lock()
		rd.ready, rd.checked = ready, time.Now()
		rd.mu.Unlock()
		return ready, nil
	})
	return v.(bool)
}

// takesCredentials says whether the upstream takes any credentials the
// proxy holds (the current ones, or during a rotation those before them):
// false only when it refuses them all (401).
func (u *upstream) takesCredentials(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.base.JoinPath("/v2/").String(), nil)
	if err != nil {
		return true
	}
	resp, _, err := u.send(ctx, req, nil, false)
	if resp != nil {
		resp.Body.Close()
	}
	refused := refusedCredentials(resp, err)
	if refused {
		u.logger.Warnw("Not ready: the upstream refuses the Connector's credentials")
	}
	return !refused
}

// withReadiness serves the readiness probe beside the registry API: what
// the proxy's server runs.
func (p *proxy) withReadiness() http.Handler {
	rd := &readiness{upstream: p.upstream}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == connector.ProxyReadinessPath && r.Method == http.MethodGet {
			rd.ServeHTTP(w, r)
			return
		}
		p.ServeHTTP(w, r)
	})
}
