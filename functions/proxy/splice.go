package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"time"
)

// Zero-copy blob relay. A blob GET to a plain-HTTP upstream is made on a
// connection of the proxy's own rather than through the pooled Transport,
// whose body reader copies through a buffer. Its body then goes from the
// upstream's socket to the client's with splice(2) (net.TCPConn.ReadFrom
// with the upstream connection as the source), never entering user space.
// TLS upstreams, HTTP proxies, HTTP/2 clients and chunked answers keep the
// copying path.
//
// A large blob is spliced onto the client's socket directly rather than
// through net/http's ReadFrom, which holds a 32 KiB buffer for the whole of
// every stream it splices: a third of the proxy's memory under a thousand
// concurrent pulls. The server cannot count bytes it did not write, so the
// answer says "Connection: close" and the client's next request opens a new
// connection, a small price beside a blob of a mebibyte or more.

// spliceKey marks a request whose answer may be spliced.
type spliceKey struct{}

// directSpliceMin is the smallest blob spliced onto the client's socket
// directly; smaller ones keep the connection alive.
const directSpliceMin = 1 << 20

// clientConnKey holds the client's connection in a request's context
// (http.Server.ConnContext).
type clientConnKey struct{}

func withClientConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, clientConnKey{}, c)
}

// directTo returns the client's TCP connection when the body of resp may be
// written to it directly: a spliced blob of directSpliceMin or more, asked
// for with HTTP/1.x on a plain TCP connection.
func directTo(r *http.Request, resp *http.Response) (*net.TCPConn, bool) {
	if _, ok := resp.Body.(*splicedBody); !ok || resp.ContentLength < directSpliceMin || r.ProtoMajor != 1 {
		return nil, false
	}
	c, ok := r.Context().Value(clientConnKey{}).(*net.TCPConn)
	return c, ok
}

func withSplice(ctx context.Context) context.Context {
	return context.WithValue(ctx, spliceKey{}, true)
}

// splicing is the innermost RoundTripper under the upstream's auth: it
// makes marked plain-HTTP GETs itself, dialing as inner does, and hands
// everything else to inner.
type splicing struct {
	inner *http.Transport
	idle  *idleConns
}

func newSplicing(inner *http.Transport) *splicing {
	return &splicing{inner: inner, idle: newIdleConns(inner.IdleConnTimeout)}
}

func (s *splicing) RoundTrip(req *http.Request) (*http.Response, error) {
	if !s.spliceable(req) {
		return s.inner.RoundTrip(req)
	}
	ctx := req.Context()
	addr := hostPort(req)
	if tcp := s.idle.get(addr); tcp != nil {
		resp, err := s.exchange(req, addr, tcp)
		if err == nil || ctx.Err() != nil {
			return resp, err
		}
		// The upstream closed it between our check and our request: a GET
		// is safe to make again, on a new connection.
	}
	dial := s.inner.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tcp, ok := conn.(*net.TCPConn)
	if !ok {
		conn.Close()
		return s.inner.RoundTrip(req)
	}
	return s.exchange(req, addr, tcp)
}

// exchange makes req on tcp, the proxy's own connection to addr, and
// returns the answer with a body that splices when it can and keeps the
// connection for the next request when it was read to its end.
func (s *splicing) exchange(req *http.Request, addr string, tcp *net.TCPConn) (*http.Response, error) {
	// Cancelling the request (the client went away) closes the connection.
	stop := context.AfterFunc(req.Context(), func() { tcp.Close() })
	fail := func(err error) (*http.Response, error) {
		stop()
		tcp.Close()
		return nil, err
	}
	if err := req.Write(tcp); err != nil {
		return fail(err)
	}
	if d := s.inner.ResponseHeaderTimeout; d > 0 {
		_ = tcp.SetReadDeadline(time.Now().Add(d))
	}
	br := bufio.NewReader(tcp)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return fail(err)
	}
	_ = tcp.SetReadDeadline(time.Time{})
	if (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusPartialContent) &&
		resp.ContentLength > 0 && len(resp.TransferEncoding) == 0 {
		body := &splicedBody{br: br, conn: tcp, remaining: resp.ContentLength, stop: stop}
		if !resp.Close {
			body.keep = func() { s.idle.put(addr, tcp) }
		}
		resp.Body = body
	} else {
		resp.Body = &connBody{ReadCloser: resp.Body, conn: tcp, stop: stop}
	}
	return resp, nil
}

// spliceable says whether req is a marked GET to a plain-HTTP upstream
// reached without an HTTP proxy.
func (s *splicing) spliceable(req *http.Request) bool {
	if req.Context().Value(spliceKey{}) == nil || req.Method != http.MethodGet || req.URL.Scheme != "http" || req.Body != nil {
		return false
	}
	if s.inner.Proxy != nil {
		if u, err := s.inner.Proxy(req); err != nil || u != nil {
			return false
		}
	}
	return true
}

func hostPort(req *http.Request) string {
	if req.URL.Port() != "" {
		return req.URL.Host
	}
	return net.JoinHostPort(req.URL.Hostname(), "80")
}

// splicedBody is a blob's body on the proxy's own upstream connection.
type splicedBody struct {
	br        *bufio.Reader
	conn      *net.TCPConn
	remaining int64
	stop      func() bool
	// keep, when set, gives the connection back for the next request.
	keep func()
}

// Read is the copying path, for writers that cannot splice.
func (b *splicedBody) Read(p []byte) (int, error) {
	if b.remaining <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.br.Read(p)
	b.remaining -= int64(n)
	if err == io.EOF && b.remaining > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// relayTo sends the body to w: what was read along with the headers with
// a write, the rest with w's ReadFrom from the socket itself, which splices
// when w is a TCP connection.
func (b *splicedBody) relayTo(w io.Writer) (int64, error) {
	rf, ok := w.(io.ReaderFrom)
	if !ok {
		return io.Copy(w, b)
	}
	var total int64
	if n := min(int64(b.br.Buffered()), b.remaining); n > 0 {
		head, _ := b.br.Peek(int(n))
		written, err := w.Write(head)
		total += int64(written)
		b.remaining -= int64(written)
		if _, derr := b.br.Discard(written); err == nil {
			err = derr
		}
		if err != nil {
			return total, err
		}
	}
	n, err := rf.ReadFrom(&io.LimitedReader{R: b.conn, N: b.remaining})
	total += n
	b.remaining -= n
	if err == nil && b.remaining > 0 {
		err = io.ErrUnexpectedEOF
	}
	return total, err
}

// Close keeps the connection when the body was read exactly to its end,
// else closes it.
func (b *splicedBody) Close() error {
	if !b.stop() {
		return nil // the request was cancelled, which closed it, or closed before
	}
	if b.keep != nil && b.remaining == 0 && b.br.Buffered() == 0 {
		b.keep()
		return nil
	}
	return b.conn.Close()
}

// connBody closes the proxy's own connection with the body.
type connBody struct {
	io.ReadCloser
	conn *net.TCPConn
	stop func() bool
}

func (b *connBody) Close() error {
	b.stop()
	err := b.ReadCloser.Close()
	b.conn.Close()
	return err
}
