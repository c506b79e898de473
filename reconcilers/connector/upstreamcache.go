package connector

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// upstreamResults remembers each Connector's last upstream check, so that
// reconciles caused by Service status changes or resyncs do not call the
// registry. A check runs again when its inputs change (the Connector's
// generation, the Secret's digest) or when it is older than the interval.
type upstreamResults struct {
	mu      sync.Mutex
	results map[types.UID]upstreamResult
}

type upstreamResult struct {
	inputs string
	at     time.Time
	err    error
}

func newUpstreamResults() *upstreamResults {
	return &upstreamResults{results: map[types.UID]upstreamResult{}}
}

// Get returns the cached outcome for these inputs if it is younger than maxAge.
func (u *upstreamResults) Get(uid types.UID, inputs string, now time.Time, maxAge time.Duration) (err error, ok bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	r, found := u.results[uid]
	if !found || r.inputs != inputs || now.Sub(r.at) >= maxAge {
		return nil, false
	}
	return r.err, true
}

// Put records an outcome.
func (u *upstreamResults) Put(uid types.UID, inputs string, now time.Time, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.results[uid] = upstreamResult{inputs: inputs, at: now, err: err}
}

// Forget drops a deleted Connector's entry.
func (u *upstreamResults) Forget(uid types.UID) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.results, uid)
}
