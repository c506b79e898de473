package connector

import (
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/lru"
)

// trackedConnectors bounds the per-Connector records the controller keeps
// in memory; a Connector pushed out is only checked again sooner.
const trackedConnectors = 4096

// checkResults remembers each Connector's last check of something outside
// the cluster (the upstream, the cache's object store), so that reconciles
// caused by Service status changes or resyncs do not call it. A check runs
// again when its inputs change (the Connector's generation, the Secret's
// digest) or when it is older than the interval.
type checkResults struct {
	byUID *lru.Cache
}

type checkResult struct {
	inputs string
	at     time.Time
	err    error
}

func newCheckResults() *checkResults {
	return &checkResults{byUID: lru.New(trackedConnectors)}
}

// Get returns the cached outcome for these inputs if it is younger than maxAge.
func (u *checkResults) Get(uid types.UID, inputs string, now time.Time, maxAge time.Duration) (err error, ok bool) {
	v, found := u.byUID.Get(uid)
	if !found {
		return nil, false
	}
	r := v.(checkResult)
	if r.inputs != inputs || now.Sub(r.at) >= maxAge {
		return nil, false
	}
	return r.err, true
}

// Put records an outcome.
func (u *checkResults) Put(uid types.UID, inputs string, now time.Time, err error) {
	u.byUID.Add(uid, checkResult{inputs: inputs, at: now, err: err})
}

// Forget drops a deleted Connector's entry.
func (u *checkResults) Forget(uid types.UID) {
	u.byUID.Remove(uid)
}
