package scenarios

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"

	"github.com/oci-connector/oci-connector/test/proxyproc"
)

// proxyRequest is one line of the proxy's access log.
type proxyRequest struct {
	Msg        string `json:"msg"`
	Method     string `json:"method"`
	Repository string `json:"repository"`
	User       string `json:"user"`
	Status     int    `json:"status"`
	Reason     string `json:"reason"`
}

// proxyAnswered says whether the proxy answered user's request for
// repository with status: the pull went through the proxy as that
// ServiceAccount, not around it.
func proxyAnswered(t *testing.T, p *proxyproc.Proc, user, repository string, status int) bool {
	t.Helper()
	f, err := os.Open(p.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		var r proxyRequest
		if json.Unmarshal(s.Bytes(), &r) == nil && r.Msg == "request" && r.User == user && r.Repository == repository && r.Status == status {
			return true
		}
	}
	return false
}
