package harness

import (
	"sync"
	"time"
)

// Repeat calls work from clients goroutines, each waiting pause before
// every call, until the stop it returns is called; stop returns once the
// calls in flight have.
func Repeat(clients int, pause time.Duration, work func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				case <-time.After(pause):
					work()
				}
			}
		})
	}
	return func() {
		close(done)
		wg.Wait()
	}
}
