package main

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// coalescer runs one refresh of a Connector at a time, and lets every
// request that arrives while one runs share the next: however many repeats
// come, a Connector costs at most one refresh running and one waiting, and
// each request still gets a refresh that began after it arrived (so it sees
// the ServiceAccount or RoleBinding that prompted it).
type coalescer struct {
	mu    sync.Mutex
	slots map[types.NamespacedName]*slot
}

type slot struct {
	running bool
	next    *refreshRun
}

// refreshRun is one refresh and its outcome, shared by its waiters.
type refreshRun struct {
	// waiters counts the requests that share it.
	waiters int
	done    chan struct{}
	res     result
	err     error
}

func newCoalescer() *coalescer {
	return &coalescer{slots: map[types.NamespacedName]*slot{}}
}

// do waits for a refresh of key that starts after the call: the next one,
// started now if none runs. refresh runs detached from ctx, so that a
// waiter that gives up does not leave the others' refresh half done.
func (c *coalescer) do(ctx context.Context, key types.NamespacedName, refresh func(types.NamespacedName) (result, error)) (result, error) {
	c.mu.Lock()
	s := c.slots[key]
	if s == nil {
		s = &slot{}
		c.slots[key] = s
	}
	if s.next == nil {
		s.next = &refreshRun{done: make(chan struct{})}
	}
	mine := s.next
	mine.waiters++
	if !s.running {
		s.running = true
		go c.drain(key, s, refresh)
	}
	c.mu.Unlock()
	select {
	case <-mine.done:
		return mine.res, mine.err
	case <-ctx.Done():
		return result{}, ctx.Err()
	}
}

// drain runs the waiting refresh of key until none waits.
func (c *coalescer) drain(key types.NamespacedName, s *slot, refresh func(types.NamespacedName) (result, error)) {
	for {
		c.mu.Lock()
		r := s.next
		s.next = nil
		if r == nil {
			s.running = false
			delete(c.slots, key)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		r.res, r.err = refresh(key)
		close(r.done)
	}
}
