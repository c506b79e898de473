package harness

import (
	"fmt"
	"log"
	"os"
	"sync"
)

// Runner is a T for main programs: Fatalf logs, runs the cleanups and exits.
type Runner struct {
	mu       sync.Mutex
	cleanups []func()
}

// Helper implements T.
func (*Runner) Helper() {}

// TempDir implements T; the directory is removed by Close.
func (r *Runner) TempDir() string {
	dir, err := os.MkdirTemp("", "oci-connector-")
	if err != nil {
		r.Fatalf("making a temporary directory: %v", err)
	}
	r.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Cleanup implements T.
func (r *Runner) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

// Logf implements T.
func (*Runner) Logf(format string, args ...any) {
	log.Printf(format, args...)
}

// Fatalf implements T.
func (r *Runner) Fatalf(format string, args ...any) {
	log.Print("fatal: " + fmt.Sprintf(format, args...))
	r.Close()
	os.Exit(1)
}

// Close runs the cleanups, last first.
func (r *Runner) Close() {
	r.mu.Lock()
	cleanups := r.cleanups
	r.cleanups = nil
	r.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
}
