package main

import (
	"io"
	"net"
	"sync"

	"github.com/oci-connector/oci-connector/test/harness"
)

// gate is a TCP relay to a backend that can be taken down (its listener
// closed and every connection dropped, as when a registry goes away) and
// brought back on the same address.
type gate struct {
	addr    string
	backend string

	mu    sync.Mutex
	l     net.Listener
	conns map[net.Conn]struct{}
}

func startGate(r *harness.Runner, backend string) *gate {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(r, err)
	g := &gate{addr: l.Addr().String(), backend: backend, conns: map[net.Conn]struct{}{}}
	g.serve(l)
	r.Cleanup(g.down)
	return g
}

func (g *gate) serve(l net.Listener) {
	g.mu.Lock()
	g.l = l
	g.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go g.relay(c)
		}
	}()
}

func (g *gate) relay(c net.Conn) {
	b, err := net.Dial("tcp", g.backend)
	if err != nil {
		c.Close()
		return
	}
	g.mu.Lock()
	g.conns[c], g.conns[b] = struct{}{}, struct{}{}
	g.mu.Unlock()
	go func() { _, _ = io.Copy(b, c); b.Close() }()
	_, _ = io.Copy(c, b)
	c.Close()
	g.mu.Lock()
	delete(g.conns, c)
	delete(g.conns, b)
	g.mu.Unlock()
}

// down closes the listener and drops every connection.
func (g *gate) down() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.l != nil {
		g.l.Close()
		g.l = nil
	}
	for c := range g.conns {
		c.Close()
	}
}

// up listens again on the same address.
func (g *gate) up(r *harness.Runner) {
	l, err := net.Listen("tcp", g.addr)
	check(r, err)
	g.serve(l)
}
