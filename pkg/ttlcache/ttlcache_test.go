package ttlcache

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestTTLCache(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	c := New[string](3)
	c.now = func() time.Time { return now }
	calls := 0
	load := func(v string, ttl time.Duration, err error) func(context.Context) (string, time.Duration, error) {
		return func(context.Context) (string, time.Duration, error) { calls++; return v, ttl, err }
	}

	if v, hit, _ := c.Get(context.Background(), "a", load("1", time.Second, nil)); v != "1" || hit {
		t.Fatalf("first get = %q, hit %v", v, hit)
	}
	if v, hit, _ := c.Get(context.Background(), "a", load("2", time.Second, nil)); v != "1" || !hit {
		t.Fatalf("second get = %q, hit %v; want the cached 1", v, hit)
	}
	now = now.Add(time.Second)
	if v, _, _ := c.Get(context.Background(), "a", load("3", time.Second, nil)); v != "3" {
		t.Fatalf("after the TTL got %q, want a fresh 3", v)
	}
	if _, _, err := c.Get(context.Background(), "e", load("", time.Second, errors.New("boom"))); err == nil {
		t.Fatal("an error was swallowed")
	}
	before := calls
	c.Get(context.Background(), "e", load("ok", time.Second, nil))
	if calls != before+1 {
		t.Fatal("an error was cached")
	}
	c.Get(context.Background(), "z", load("no-keep", 0, nil))
	c.Get(context.Background(), "z", load("no-keep", 0, nil))
	if c.Len() > 3 {
		t.Fatalf("the cache holds %d entries, bound is 3", c.Len())
	}
	for i := 0; i < 10; i++ {
		c.Get(context.Background(), fmt.Sprint(i), load("v", time.Hour, nil))
	}
	if c.Len() > 3 {
		t.Fatalf("the cache grew to %d entries past its bound of 3", c.Len())
	}
}

func TestTTLCacheCollapsesConcurrentMisses(t *testing.T) {
	c := New[int](10)
	var calls, asking atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			asking.Add(1)
			v, _, err := c.Get(context.Background(), "k", func(context.Context) (int, time.Duration, error) {
				calls.Add(1)
				// Answer once every caller is asking: they wait on this
				// call, or find its answer cached when they come late.
				for asking.Load() < 20 {
					runtime.Gosched()
				}
				return 7, time.Minute, nil
			})
			if err != nil || v != 7 {
				t.Errorf("get = %d, %v", v, err)
			}
		}()
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("20 concurrent misses made %d calls, want 1", n)
	}
}

// A load runs detached from the caller that started it: that caller giving
// up neither cancels the load nor fails the others waiting on it.
func TestALoadOutlivesTheCallerThatStartedIt(t *testing.T) {
	c := New[string](10)
	started, release := make(chan struct{}), make(chan struct{})
	first, cancel := context.WithCancel(context.Background())
	firstDone := make(chan error, 1)
	go func() {
		_, _, err := c.Get(first, "k", func(ctx context.Context) (string, time.Duration, error) {
			close(started)
			<-release
			return "v", time.Minute, ctx.Err()
		})
		firstDone <- err
	}()
	<-started
	secondDone := make(chan string, 1)
	go func() {
		v, _, err := c.Get(context.Background(), "k", func(context.Context) (string, time.Duration, error) {
			return "second load", time.Minute, nil
		})
		if err != nil {
			v = err.Error()
		}
		secondDone <- v
	}()
	cancel()
	if err := <-firstDone; !errors.Is(err, context.Canceled) {
		t.Errorf("the caller that gave up got %v, want context.Canceled", err)
	}
	close(release)
	// The second caller either joined the load or found its answer cached.
	if v := <-secondDone; v != "v" {
		t.Errorf("the caller that waited got %q, want the first load's answer", v)
	}
}
