package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
)

// rawUpstream answers each request on a connection with "hello", and then
// does what after says for the n-th request of that connection (from 1):
// nothing, write an unasked 408 when poked, or close without answering.
type rawUpstream struct {
	addr  string
	conns atomic.Int32
	poke  chan struct{}
	// via is the proxy's splicing RoundTripper the tests reach it through.
	via *splicing
}

type afterAnswer int

const (
	keepOpen afterAnswer = iota
	unasked408
	closeSecondUnanswered
)

func newRawUpstream(t *testing.T, after afterAnswer) *rawUpstream {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	u := &rawUpstream{addr: l.Addr().String(), poke: make(chan struct{}), via: newSplicing(http.DefaultTransport.(*http.Transport).Clone())}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u.conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for n := 1; ; n++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					req.Body.Close()
					if after == closeSecondUnanswered && n == 2 {
						return
					}
					_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
					if after == unasked408 {
						<-u.poke
						_, _ = io.WriteString(c, "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")
					}
				}
			}()
		}
	}()
	return u
}

// get makes a marked blob GET and reads keep bytes of the body (all of it
// when keep is negative) before closing it.
func (u *rawUpstream) get(t *testing.T, keep int) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(withSplice(context.Background()), http.MethodGet, "http://"+u.addr+"/v2/r/blobs/sha256:"+strings.Repeat("a", 64), nil)
	resp, err := u.via.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r io.Reader = resp.Body
	if keep >= 0 {
		r = io.LimitReader(r, int64(keep))
	}
	got, err := io.ReadAll(r)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, %q, %v", resp.StatusCode, got, err)
	}
	return string(got)
}

// getWhole makes n blob GETs, each read to its end.
func (u *rawUpstream) getWhole(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		if got := u.get(t, -1); got != "hello" {
			t.Fatalf("GET %d: %q", i, got)
		}
	}
}

// wantConns checks how many connections the upstream has accepted.
func (u *rawUpstream) wantConns(t *testing.T, want int32, after string) {
	t.Helper()
	if n := u.conns.Load(); n != want {
		t.Errorf("%s: %d connections, want %d", after, n, want)
	}
}

// A connection whose answer was read to its end serves the next blob GET; a
// partly read one does not.
func TestUpstreamConnectionsAreKeptForTheNextBlob(t *testing.T) {
	u := newRawUpstream(t, keepOpen)
	u.getWhole(t, 3)
	u.wantConns(t, 1, "3 GETs read to the end")
	u.get(t, 2) // the client went away mid-blob
	u.get(t, -1)
	u.wantConns(t, 2, "after a partly read answer")
}

// An upstream that wrote to a kept connection unasked never has that
// answer taken for the next request's.
func TestANoisyKeptConnectionIsNotUsed(t *testing.T) {
	u := newRawUpstream(t, unasked408)
	u.getWhole(t, 1)
	kept := u.via.idle.byAddr[u.addr]
	if len(kept) != 1 {
		t.Fatalf("%d connections kept, want 1", len(kept))
	}
	u.poke <- struct{}{}
	for quiet(kept[0].conn) {
		runtime.Gosched() // until the 408 is in the connection's receive queue
	}
	u.getWhole(t, 1)
	u.wantConns(t, 2, "the noisy one not used")
	close(u.poke)
}

// A kept connection the upstream closes as the request arrives costs the
// client nothing: the GET is made again on a new connection.
func TestAKeptConnectionClosedUnderTheRequestIsRetried(t *testing.T) {
	u := newRawUpstream(t, closeSecondUnanswered)
	u.getWhole(t, 2)
	u.wantConns(t, 2, "the first closed under the second GET")
}

// Kept connections are bounded per upstream address.
func TestKeptConnectionsAreBounded(t *testing.T) {
	p := newIdleConns(0)
	var conns []*net.TCPConn
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range maxIdleSpliceConns + 3 {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c.(*net.TCPConn))
		p.put("upstream:80", c.(*net.TCPConn))
	}
	if n := len(p.byAddr["upstream:80"]); n != maxIdleSpliceConns {
		t.Errorf("%d kept, want %d", n, maxIdleSpliceConns)
	}
	if _, err := conns[len(conns)-1].Write([]byte("x")); err == nil {
		t.Error("a connection beyond the bound was not closed")
	}
}
