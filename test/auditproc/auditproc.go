// Package auditproc runs the audit function's binary as a plain process on
// 127.0.0.1, as Knative would run its image: for the e2e tests and the
// benchmarks.
package auditproc

import (
	"path/filepath"

	"github.com/oci-connector/oci-connector/test/harness"
)

// Proc is a running audit function.
type Proc struct {
	// URL is its base, http://127.0.0.1:<port>: the CloudEvents sink and the API.
	URL     string
	LogPath string
}

// Start runs the audit function until t's cleanup, on PostgreSQL when
// databaseURL is set, else on a fresh SQLite file.
func Start(t harness.T, databaseURL string) *Proc {
	t.Helper()
	addr := harness.FreeAddr(t)
	srv := harness.StartServer(t, harness.GoBinary(t, "./functions/audit"),
		[]string{"--listen", addr, "--sqlite", filepath.Join(t.TempDir(), "audit.db")},
		[]string{"DATABASE_URL=" + databaseURL}, addr)
	return &Proc{URL: "http://" + addr, LogPath: srv.LogPath}
}
