package blobcache

import "sync"

// fills makes concurrent misses of one blob for one repository one
// upstream fetch: the first caller leads and fetches; the others wait for
// it and then read from the cache.
type fills struct {
	mu sync.Mutex
	m  map[string]chan struct{}
}

func newFills() *fills { return &fills{m: map[string]chan struct{}{}} }

// Join returns, for the leader, a function that ends the fill; for the
// others, a channel closed when the leader is done.
func (c *Cache) Join(repo, digest string) (finish func(), done <-chan struct{}) {
	key := repo + "@" + digest
	f := c.fills
	f.mu.Lock()
	defer f.mu.Unlock()
	if ch, ok := f.m[key]; ok {
		return nil, ch
	}
	ch := make(chan struct{})
	f.m[key] = ch
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			delete(f.m, key)
			f.mu.Unlock()
			close(ch)
		})
	}, nil
}
