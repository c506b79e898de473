package ttlcache

import (
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
	load := func(v string, ttl time.Duration, err error) func() (string, time.Duration, error) {
		return func() (string, time.Duration, error) { calls++; return v, ttl, err }
	}

	if v, hit, _ := c.Get("a", load("1", time.Second, nil)); v != "1" || hit {
		t.Fatalf("first get = %q, hit %v", v, hit)
	}
	if v, hit, _ := c.Get("a", load("2", time.Second, nil)); v != "1" || !hit {
		t.Fatalf("second get = %q, hit %v; want the cached 1", v, hit)
	}
	now = now.Add(time.Second)
	if v, _, _ := c.Get("a", load("3", time.Second, nil)); v != "3" {
		t.Fatalf("after the TTL got %q, want a fresh 3", v)
	}
	if _, _, err := c.Get("e", load("", time.Second, errors.New("boom"))); err == nil {
		t.Fatal("an error was swallowed")
	}
	before := calls
	c.Get("e", load("ok", time.Second, nil))
	if calls != before+1 {
		t.Fatal("an error was cached")
	}
	c.Get("z", load("no-keep", 0, nil))
	c.Get("z", load("no-keep", 0, nil))
	if c.Len() > 3 {
		t.Fatalf("the cache holds %d entries, bound is 3", c.Len())
	}
	for i := 0; i < 10; i++ {
		c.Get(fmt.Sprint(i), load("v", time.Hour, nil))
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
			v, _, err := c.Get("k", func() (int, time.Duration, error) {
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
