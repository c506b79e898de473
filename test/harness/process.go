package harness

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// builds holds one build per package for the life of the test process.
var builds sync.Map // package path -> func() (string, error)

// GoBinary builds a package of this repository (say ./functions/audit) once
// per process and returns the binary's path.
func GoBinary(t T, pkg string) string {
	t.Helper()
	once, _ := builds.LoadOrStore(pkg, sync.OnceValues(func() (string, error) {
		root, err := RepoRoot()
		if err != nil {
			return "", err
		}
		dir, err := os.MkdirTemp("", "oci-connector-bin-")
		if err != nil {
			return "", err
		}
		bin := filepath.Join(dir, filepath.Base(strings.TrimSuffix(pkg, "/")))
		cmd := exec.Command("go", "build", "-o", bin, pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
		return bin, nil
	}))
	bin, err := once.(func() (string, error))()
	if err != nil {
		t.Fatalf("%v", err)
	}
	return bin
}

// FreePort is a port on 127.0.0.1 that nobody listens on yet.
func FreePort(t T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreeAddr is a 127.0.0.1 address with a port nobody listens on yet.
func FreeAddr(t T) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", FreePort(t))
}

// WaitListening waits until something accepts connections on addr.
func WaitListening(addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Server is a program of this repository running as a process.
type Server struct {
	Cmd     *exec.Cmd
	LogPath string
	Started time.Time
}

// StartServer runs bin with args (and env added to the test's) until t's
// cleanup, its output in a log file, and waits until it listens on addr.
func StartServer(t T, bin string, args, env []string, addr string) *Server {
	t.Helper()
	s := StartProcess(t, bin, args, env)
	if err := WaitListening(addr, 30*time.Second); err != nil {
		raw, _ := os.ReadFile(s.LogPath)
		t.Fatalf("%s did not listen on %s: %v\n%s", filepath.Base(bin), addr, err, raw)
	}
	return s
}

// StartProcess runs bin with args (and env added to the test's) until t's
// cleanup, its output in a log file; the caller waits for what it serves.
func StartProcess(t T, bin string, args, env []string) *Server {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), filepath.Base(bin)+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("%v", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	t.Cleanup(func() {
		// An interrupt first, to let it clean up; a process that ignores
		// interrupts (as one started in the background by a shell does) is
		// killed after 10 seconds.
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logFile.Close()
	})
	return &Server{Cmd: cmd, LogPath: logPath, Started: started}
}

// WaitFor polls every 100ms until cond holds, or fails t after timeout with
// the last state cond described.
func WaitFor(t T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last string
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		ok, seen := cond(ctx)
		// What a call cut short by the deadline saw is the deadline, not
		// the state: keep the state seen before it.
		if ctx.Err() == nil || last == "" {
			last = seen
		}
		return ok, nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v; last seen: %s", what, err, last)
	}
}

// Tail is the end of a log file (its last 4 KiB), for a failure message.
func Tail(path string) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(raw) > 4096 {
		raw = raw[len(raw)-4096:]
	}
	return string(raw)
}
