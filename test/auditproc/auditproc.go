// Package auditproc runs the audit function's binary as a plain process on
// 127.0.0.1, as Knative would run its image: for the e2e tests and the
// benchmarks.
package auditproc

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

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
	bin := harness.GoBinary(t, "./functions/audit")
	dir := t.TempDir()
	addr := harness.FreeAddr(t)
	logPath := filepath.Join(dir, "audit.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("%v", err)
	}
	cmd := exec.Command(bin, "--listen", addr, "--sqlite", filepath.Join(dir, "audit.db"))
	cmd.Env = append(os.Environ(), "DATABASE_URL="+databaseURL)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the audit function: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		logFile.Close()
	})
	if err := harness.WaitListening(addr, 30*time.Second); err != nil {
		raw, _ := os.ReadFile(logPath)
		t.Fatalf("the audit function did not listen: %v\n%s", err, raw)
	}
	return &Proc{URL: "http://" + addr, LogPath: logPath}
}
