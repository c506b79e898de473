// Package postgres starts a real PostgreSQL server from Debian's packages for
// a test: a fresh cluster in a temporary directory, listening on 127.0.0.1
// only, stopped at cleanup.
package postgres

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/oci-connector/oci-connector/test/harness"
)

// Start runs a server and returns a DATABASE_URL for its database "audit".
func Start(t harness.T) string {
	t.Helper()
	bin, err := binDir()
	if err != nil {
		t.Fatalf("PostgreSQL: %v (apt-get install postgresql; .ci/run does)", err)
	}
	dir, err := os.MkdirTemp("", "oci-connector-postgres-")
	if err != nil {
		t.Fatalf("PostgreSQL data directory: %v", err)
	}
	asUser := func(name string, args ...string) *exec.Cmd { return exec.Command(filepath.Join(bin, name), args...) }
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root: run them as the
		// package's own user, who must own the directory.
		pg, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("PostgreSQL as root needs the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(pg.Uid)
		gid, _ := strconv.Atoi(pg.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("chown %s: %v", dir, err)
		}
		asUser = func(name string, args ...string) *exec.Cmd {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(bin, name)}, args...)...)
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := asUser("initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	port := harness.FreePort(t)
	logFile := filepath.Join(dir, "postgres.log")
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s -c fsync=off -c full_page_writes=off -c synchronous_commit=off", port, dir)
	if out, err := asUser("pg_ctl", "-D", data, "-l", logFile, "-o", opts, "-w", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(logFile)
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	t.Cleanup(func() {
		_ = asUser("pg_ctl", "-D", data, "-m", "immediate", "stop").Run()
		os.RemoveAll(dir)
	})
	if out, err := asUser("createdb", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "postgres", "audit").CombinedOutput(); err != nil {
		t.Fatalf("createdb: %v\n%s", err, out)
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/audit?sslmode=disable", port)
}

// binDir is the newest installed PostgreSQL's bin directory.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) < version(dirs[j]) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	return "", fmt.Errorf("no initdb under /usr/lib/postgresql/*/bin")
}

func version(binDir string) int {
	v, _ := strconv.Atoi(strings.Split(filepath.Base(filepath.Dir(binDir)), ".")[0])
	return v
}
