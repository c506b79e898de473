package identity

import (
	"context"
	"time"

	"golang.org/x/sync/singleflight"
	"k8s.io/apimachinery/pkg/util/cache"
)

// loadTimeout bounds one load. A load runs detached from the caller that
// started it: others wait on it, and one caller giving up must not fail
// them all.
const loadTimeout = 10 * time.Second

// answers keeps what the API server said, in two LRU caches with expiry:
// one for yes and one for no, so that no number of refusals can push out
// the answers of callers who were let in. Concurrent misses of one key make
// one call.
type answers[V any] struct {
	yes, no *cache.LRUExpireCache
	group   singleflight.Group
}

func newAnswers[V any](yesEntries, noEntries int) *answers[V] {
	return &answers[V]{yes: cache.NewLRUExpireCache(yesEntries), no: cache.NewLRUExpireCache(noEntries)}
}

// loaded is one answer: its value, whether it is a yes, and how long it may
// be kept (0: not at all).
type loaded[V any] struct {
	value V
	yes   bool
	ttl   time.Duration
}

// get returns the kept answer for key, or calls load once for every caller
// waiting on key. cached says whether the answer was kept from before.
func (a *answers[V]) get(ctx context.Context, key string, load func(context.Context) (loaded[V], error)) (ans loaded[V], cached bool, err error) {
	if ans, ok := a.lookup(key); ok {
		return ans, true, nil
	}
	ans, err = a.load(ctx, key, load)
	return ans, false, err
}

// lookup is the kept answer for key.
func (a *answers[V]) lookup(key string) (loaded[V], bool) {
	if v, ok := a.yes.Get(key); ok {
		return v.(loaded[V]), true
	}
	if v, ok := a.no.Get(key); ok {
		return v.(loaded[V]), true
	}
	return loaded[V]{}, false
}

// load calls load once for every caller waiting on key, and keeps the
// answer as it says.
func (a *answers[V]) load(ctx context.Context, key string, load func(context.Context) (loaded[V], error)) (loaded[V], error) {
	ch := a.group.DoChan(key, func() (any, error) {
		loadCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		defer cancel()
		l, err := load(loadCtx)
		switch {
		case err != nil || l.ttl <= 0:
		case l.yes:
			a.yes.Add(key, l, l.ttl)
		default:
			a.no.Add(key, l, l.ttl)
		}
		return l, err
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return loaded[V]{}, res.Err
		}
		return res.Val.(loaded[V]), nil
	case <-ctx.Done():
		return loaded[V]{}, ctx.Err()
	}
}
