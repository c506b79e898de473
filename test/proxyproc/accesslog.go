package proxyproc

import (
	"bufio"
	"encoding/json"
	"io"
	"os"

	"github.com/oci-connector/oci-connector/test/harness"
)

// Request is one line of the proxy's access log.
type Request struct {
	Method     string `json:"method"`
	Path       string `json:"path"`
	Repository string `json:"repository"`
	User       string `json:"user"`
	Status     int    `json:"status"`
	Bytes      int64  `json:"bytes"`
	Reason     string `json:"reason"`
	// Cache is hit, miss or stale when the cache took part.
	Cache string `json:"cache"`
}

// Requests reads the proxy's access log so far.
func (p *Proc) Requests(t harness.T) []Request {
	t.Helper()
	f, err := os.Open(p.LogPath)
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer f.Close()
	return ParseRequests(f)
}

// ParseRequests reads the access log lines of a proxy's log, skipping the
// rest.
func ParseRequests(log io.Reader) []Request {
	var out []Request
	s := bufio.NewScanner(log)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		var line struct {
			Msg string `json:"msg"`
			Request
		}
		if json.Unmarshal(s.Bytes(), &line) == nil && line.Msg == "request" {
			out = append(out, line.Request)
		}
	}
	return out
}
