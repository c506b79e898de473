package blobcache

import (
	"container/list"
	"sync"
)

// lru keeps the cache's content within a byte bound, evicting the least
// recently used. Content being read is pinned and never evicted, and a blob
// being written holds a reservation for its size, so the bound holds
// while it is written, not only once it is.
type lru struct {
	mu       sync.Mutex
	bound    int64
	used     int64 // committed content
	reserved int64 // blobs being written
	order    *list.List
	entries  map[string]*list.Element
	// evict removes evicted content from the store; called without mu.
	evict func(name string)
}

type lruEntry struct {
	name string
	size int64
	pins int
}

func newLRU(bound int64, evict func(string)) *lru {
	return &lru{bound: bound, order: list.New(), entries: map[string]*list.Element{}, evict: evict}
}

// add records content of size (or uses it again), most recent first, and
// evicts what no longer fits.
func (l *lru) add(name string, size int64) {
	l.mu.Lock()
	if e, ok := l.entries[name]; ok {
		l.order.MoveToFront(e)
		l.mu.Unlock()
		return
	}
	l.entries[name] = l.order.PushFront(&lruEntry{name: name, size: size})
	l.used += size
	evicted := l.shrinkLocked(0)
	l.mu.Unlock()
	l.removeAll(evicted)
}

// pin marks name as being read, most recent first. It returns the unpin,
// and false when name is not known here (the caller adds it once opened).
func (l *lru) pin(name string) (func(), bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[name]
	if !ok {
		return func() {}, false
	}
	l.order.MoveToFront(e)
	e.Value.(*lruEntry).pins++
	return l.unpinFunc(e), true
}

// addPinned is add and pin for content opened before it was known here.
func (l *lru) addPinned(name string, size int64) func() {
	l.add(name, size)
	unpin, _ := l.pin(name)
	return unpin
}

func (l *lru) unpinFunc(e *list.Element) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			e.Value.(*lruEntry).pins--
			l.mu.Unlock()
		})
	}
}

// reserve makes room for n bytes about to be written, evicting the least
// recently used content that is not being read. It returns false when n
// cannot fit: the blob then passes through uncached.
func (l *lru) reserve(n int64) (release func(), ok bool) {
	l.mu.Lock()
	evicted := l.shrinkLocked(n)
	fits := l.used+l.reserved+n <= l.bound
	if fits {
		l.reserved += n
	}
	l.mu.Unlock()
	l.removeAll(evicted)
	if !fits {
		return nil, false
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			l.reserved -= n
			l.mu.Unlock()
		})
	}, true
}

// forget drops name, which is gone from the store.
func (l *lru) forget(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.entries[name]; ok {
		l.order.Remove(e)
		delete(l.entries, name)
		l.used -= e.Value.(*lruEntry).size
	}
}

// shrinkLocked evicts, least recently used first and skipping pinned
// content, until extra more bytes fit; it returns what it evicted.
func (l *lru) shrinkLocked(extra int64) []string {
	var evicted []string
	for e := l.order.Back(); e != nil && l.used+l.reserved+extra > l.bound; {
		prev := e.Prev()
		if ent := e.Value.(*lruEntry); ent.pins == 0 {
			l.order.Remove(e)
			delete(l.entries, ent.name)
			l.used -= ent.size
			evicted = append(evicted, ent.name)
		}
		e = prev
	}
	return evicted
}

func (l *lru) removeAll(names []string) {
	for _, n := range names {
		l.evict(n)
	}
}

// usage is the committed bytes and the bound.
func (l *lru) usage() (used, bound int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.used, l.bound
}
