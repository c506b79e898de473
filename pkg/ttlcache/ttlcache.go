// Package ttlcache keeps answers from the API server (token reviews, access
// reviews) for a short while, bounded in size, one call per key at a time.
package ttlcache

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Cache remembers answers for a while, bounded in size, and collapses
// concurrent misses for one key into one call.
type Cache[V any] struct {
	mu      sync.Mutex
	entries map[string]entry[V]
	max     int
	group   singleflight.Group
	now     func() time.Time
}

type entry[V any] struct {
	value   V
	expires time.Time
}

// New makes a Cache that holds at most max entries.
func New[V any](max int) *Cache[V] {
	return &Cache[V]{entries: map[string]entry[V]{}, max: max, now: time.Now}
}

// LoadTimeout bounds one load. A load runs detached from the caller that
// started it: other callers wait on it, and one caller giving up must not
// fail them all.
const LoadTimeout = 10 * time.Second

// Get returns the cached value for key, or calls load once for all callers
// waiting on key; load says how long its answer may be kept (0: not at
// all). A caller whose ctx ends stops waiting; the load goes on for the rest.
func (c *Cache[V]) Get(ctx context.Context, key string, load func(context.Context) (V, time.Duration, error)) (V, bool, error) {
	if v, ok := c.lookup(key); ok {
		return v, true, nil
	}
	ch := c.group.DoChan(key, func() (any, error) {
		loadCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), LoadTimeout)
		defer cancel()
		v, ttl, err := load(loadCtx)
		if err == nil && ttl > 0 {
			c.store(key, v, ttl)
		}
		return v, err
	})
	select {
	case res := <-ch:
		v, _ := res.Val.(V)
		return v, false, res.Err
	case <-ctx.Done():
		var zero V
		return zero, false, ctx.Err()
	}
}

func (c *Cache[V]) lookup(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !c.now().Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.value, true
}

func (c *Cache[V]) store(key string, v V, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.entries) >= c.max {
		// Drop what has expired; if that frees nothing, drop entries at
		// random (map order) until there is room.
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < c.max {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[key] = entry[V]{value: v, expires: now.Add(ttl)}
}

// Len says how many entries are held, expired ones included.
func (c *Cache[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
