// Package proxyproc builds the proxy binary and runs it as a plain process on
// 127.0.0.1, its credentials in a directory laid out like a Secret volume:
// how the e2e tests, the benchmarks and `make run` use the real proxy.
package proxyproc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/oci-connector/oci-connector/test/harness"
)

// Proc is a running proxy.
type Proc struct {
	// Host is host:port.
	Host string
	// LogPath holds its output.
	LogPath string
	// CredentialsDir is its Secret volume; WriteSecretVolume rotates it.
	CredentialsDir string
	// Cmd is the process, for its pid.
	Cmd *exec.Cmd
	// Started is when the process was started.
	Started time.Time
}

// Options say which Connector the proxy serves and how it reaches the API.
type Options struct {
	Upstream   string
	Namespace  string
	Name       string
	Kubeconfig string
	// Secret is the upstream Secret's data (username, password, ca.crt...).
	Secret map[string]string
	// Args are extra flags.
	Args []string
	// AuditTokenFile, when set, is the token the proxy presents with its
	// events to AuditURL (--audit-token-file, --audit-url): to no other sink.
	AuditTokenFile, AuditURL string
}

// Start builds the proxy once per process and runs it until t's cleanup.
func Start(t harness.T, o Options) *Proc {
	t.Helper()
	bin := harness.GoBinary(t, "./functions/proxy")
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	WriteSecretVolume(t, creds, o.Secret)

	addr := harness.FreeAddr(t)

	args := append([]string{
		"--listen", addr,
		"--upstream", o.Upstream,
		"--credentials-dir", creds,
		"--namespace", o.Namespace,
		"--name", o.Name,
		"--kubeconfig", o.Kubeconfig,
		"--shutdown-grace", "2s",
	}, o.Args...)
	if o.AuditTokenFile != "" {
		args = append(args, "--audit-token-file", o.AuditTokenFile, "--audit-url", o.AuditURL)
	}
	srv := harness.StartServer(t, bin, args, nil, addr)
	return &Proc{Host: addr, LogPath: srv.LogPath, CredentialsDir: creds, Cmd: srv.Cmd, Started: srv.Started}
}

// WriteSecretVolume lays data out as the kubelet does for a Secret volume:
// keys are symlinks into a ..data directory that is swapped atomically.
func WriteSecretVolume(t harness.T, dir string, data map[string]string) {
	t.Helper()
	ts := filepath.Join(dir, fmt.Sprintf("..%d", time.Now().UnixNano()))
	if err := os.MkdirAll(ts, 0o700); err != nil {
		t.Fatalf("%v", err)
	}
	for k, v := range data {
		if err := os.WriteFile(filepath.Join(ts, k), []byte(v), 0o600); err != nil {
			t.Fatalf("%v", err)
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		t.Fatalf("%v", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatalf("%v", err)
	}
	for k := range data {
		link := filepath.Join(dir, k)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join("..data", k), link); err != nil {
			t.Fatalf("%v", err)
		}
	}
}
