package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oci-connector/oci-connector/test/harness"
)

// startRelayTo runs the reference relay in front of upstream, trusting the
// CA in caFile when set, and returns its address and process.
func (b *bench) startRelayTo(upstream, caFile string) (string, *os.Process) {
	if caFile != "" {
		return b.startHelper("relay", upstream, caFile)
	}
	return b.startHelper("relay", upstream)
}

// relayStartup is the reference for the functions' start-up figures: how
// long the reference relay, a Go program of this bench's size, takes from
// exec until it accepts a connection.
func (b *bench) relayStartup() time.Duration {
	start := time.Now()
	_, proc := b.startRelayTo(b.reg.URL, "")
	took := time.Since(start)
	_ = proc.Kill()
	return took
}

// startHelper runs this binary as `bench <mode> <addr> args...` in its own
// process and returns the address it listens on and the process.
func (b *bench) startHelper(mode string, args ...string) (string, *os.Process) {
	self, err := os.Executable()
	check(b.r, err)
	addr := freeAddr(b.r)
	cmd := exec.Command(self, append([]string{mode, addr}, args...)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	check(b.r, cmd.Start())
	b.r.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, cmd.Process
		}
	}
	b.r.Fatalf("the %s did not listen", mode)
	return "", nil
}

// runRelay is the reference relay: httputil.ReverseProxy, 1 MiB buffers, no
// auth; it trusts the CA in caFile when one is given.
func runRelay(addr, upstream, caFile string) {
	target, err := url.Parse(upstream)
	if err != nil {
		log.Fatal(err)
	}
	transport := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 512}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			log.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(pem)
		transport.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	rp := &httputil.ReverseProxy{
		Rewrite:    func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.Out.Host = target.Host },
		BufferPool: bufferPool{},
		Transport:  transport,
	}
	log.Fatal(http.ListenAndServe(addr, rp))
}

type bufferPool struct{}

var relayBuffers = sync.Pool{New: func() any { b := make([]byte, mib); return &b }}

func (bufferPool) Get() []byte { return *relayBuffers.Get().(*[]byte) }

func (bufferPool) Put(b []byte) { relayBuffers.Put(&b) }

// cpuTime is a process's user plus system CPU time, from /proc.
func cpuTime(r *harness.Runner, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	check(r, err)
	// Fields after the command name, which is in parentheses.
	fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks
}

func freeAddr(r *harness.Runner) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(r, err)
	defer l.Close()
	return l.Addr().String()
}
