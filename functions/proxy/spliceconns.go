package main

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The proxy's own upstream connections (splice.go) are kept for the next
// blob GET, as the Transport keeps its own: a fresh connection for every blob
// costs a round trip and TCP's slow start on every layer. A connection goes
// back only when its answer was read exactly to its end and the upstream did
// not ask to close it, and it is taken again only while it is quiet: an
// upstream that closed it while idle, or wrote to it unasked (a 408), never
// answers a request on it.

// maxIdleSpliceConns bounds the kept connections of one upstream address.
const maxIdleSpliceConns = 32

type idleConns struct {
	mu      sync.Mutex
	byAddr  map[string][]idleConn // the most recently used last
	timeout time.Duration         // zero: kept until the upstream closes them
	now     func() time.Time
}

type idleConn struct {
	conn  *net.TCPConn
	since time.Time
}

func newIdleConns(timeout time.Duration) *idleConns {
	return &idleConns{byAddr: map[string][]idleConn{}, timeout: timeout, now: time.Now}
}

// get returns a quiet kept connection to addr, or nil; the ones it finds
// stale or noisy on the way are closed.
func (p *idleConns) get(addr string) *net.TCPConn {
	for {
		p.mu.Lock()
		list := p.byAddr[addr]
		if len(list) == 0 {
			p.mu.Unlock()
			return nil
		}
		c := list[len(list)-1]
		p.byAddr[addr] = list[:len(list)-1]
		p.mu.Unlock()
		if (p.timeout == 0 || p.now().Sub(c.since) < p.timeout) && quiet(c.conn) {
			return c.conn
		}
		c.conn.Close()
	}
}

// put keeps c for the next request to addr, or closes it when addr has
// enough kept already.
func (p *idleConns) put(addr string, c *net.TCPConn) {
	_ = c.SetDeadline(time.Time{})
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.byAddr[addr]
	if len(list) >= maxIdleSpliceConns {
		c.Close()
		return
	}
	p.byAddr[addr] = append(list, idleConn{conn: c, since: p.now()})
}

// quiet says whether c is open with nothing to read: a peek that would
// block. (A read with a deadline already passed would not look.)
func quiet(c *net.TCPConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var n int
	var peekErr error
	if err := raw.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, peekErr = unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return true // look once, never wait
	}); err != nil {
		return false
	}
	return n <= 0 && (errors.Is(peekErr, syscall.EAGAIN) || errors.Is(peekErr, syscall.EWOULDBLOCK))
}
