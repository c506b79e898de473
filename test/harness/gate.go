package harness

import (
	"io"
	"net"
	"sync"
	"time"
)

// Gate is a TCP relay to a backend: it can be taken down (its
// listener closed and every connection dropped, as when a registry goes
// away) and brought back on the same address, and it can make the backend
// far away (a delay each way and a bandwidth limit, in user space: this
// kernel has no netem).
type Gate struct {
	Addr    string
	backend string
	far     GateOptions

	mu    sync.Mutex
	l     net.Listener
	conns map[net.Conn]struct{}
}

// GateOptions say where a gate listens (ListenIP, 127.0.0.1 when empty)
// and make its backend far: Delay each way, and at most BytesPerSecond
// each way on each connection. Zero values add nothing.
type GateOptions struct {
	ListenIP       string
	Delay          time.Duration
	BytesPerSecond int64
}

// StartGate relays <ListenIP>:<port> to backend until t's cleanup.
func StartGate(t T, backend string, o GateOptions) *Gate {
	t.Helper()
	ip := o.ListenIP
	if ip == "" {
		ip = "127.0.0.1"
	}
	o.ListenIP = ""
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("gate: %v", err)
	}
	g := &Gate{Addr: l.Addr().String(), backend: backend, far: o, conns: map[net.Conn]struct{}{}}
	g.serve(l)
	t.Cleanup(g.Down)
	return g
}

func (g *Gate) serve(l net.Listener) {
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

func (g *Gate) relay(c net.Conn) {
	b, err := net.Dial("tcp", g.backend)
	if err != nil {
		c.Close()
		return
	}
	g.mu.Lock()
	g.conns[c], g.conns[b] = struct{}{}, struct{}{}
	g.mu.Unlock()
	go func() { g.copy(b, c); b.Close() }()
	g.copy(c, b)
	c.Close()
	g.mu.Lock()
	delete(g.conns, c)
	delete(g.conns, b)
	g.mu.Unlock()
}

// copy relays src to dst, far when the gate is.
func (g *Gate) copy(dst io.Writer, src io.Reader) {
	if g.far == (GateOptions{}) {
		_, _ = io.Copy(dst, src)
		return
	}
	type chunk struct {
		at   time.Time
		data []byte
	}
	// Chunks leave Delay after they came, in order, no faster than the
	// rate: a link of that length and bandwidth, pipelined as TCP is.
	queue := make(chan chunk, 4096)
	go func() {
		defer close(queue)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				queue <- chunk{at: time.Now(), data: buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	var free time.Time // when the link has sent what it was given
	for c := range queue {
		time.Sleep(time.Until(c.at.Add(g.far.Delay)))
		if rate := g.far.BytesPerSecond; rate > 0 {
			if now := time.Now(); free.Before(now) {
				free = now
			}
			free = free.Add(time.Duration(float64(len(c.data)) / float64(rate) * float64(time.Second)))
			time.Sleep(time.Until(free))
		}
		if _, err := dst.Write(c.data); err != nil {
			for range queue {
			}
			return
		}
	}
}

// Down closes the listener and drops every connection.
func (g *Gate) Down() {
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

// Up listens again on the same address.
func (g *Gate) Up(t T) {
	t.Helper()
	l, err := net.Listen("tcp", g.Addr)
	if err != nil {
		t.Fatalf("gate: %v", err)
	}
	g.serve(l)
}
