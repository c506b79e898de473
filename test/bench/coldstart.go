package main

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/oci-connector/oci-connector/test/harness"
)

// scaleFromZero stands in for Knative's activator in front of a Service
// scaled to zero: it holds each request until the function's process is up,
// starting it on the first, and forwards it. Stop scales back to zero.
type scaleFromZero struct {
	r    *harness.Runner
	bin  string
	args []string
	addr string // the function's own address

	mu      sync.Mutex
	running *harness.Server
	// starts records how long each start took, exec to listening.
	starts []time.Duration
}

func (s *scaleFromZero) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	s.mu.Lock()
	if s.bin == "" {
		// Not deployed yet: the sender retries.
		s.mu.Unlock()
		http.Error(w, "tokenrefresh is not deployed yet", http.StatusServiceUnavailable)
		return
	}
	if s.running == nil {
		s.running = harness.StartServer(s.r, s.bin, s.args, nil, s.addr)
		s.starts = append(s.starts, time.Since(s.running.Started))
	}
	s.mu.Unlock()
	httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: s.addr}).ServeHTTP(w, req)
}

// stop ends the function's process, as Knative does after the last request.
func (s *scaleFromZero) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running == nil {
		return
	}
	_ = s.running.Cmd.Process.Signal(os.Interrupt)
	_ = s.running.Cmd.Wait()
	s.running = nil
}
