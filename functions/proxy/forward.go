package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// maxRedirects bounds the upstream redirects the proxy follows for a read.
const maxRedirects = 5

// Copy buffers: a large one makes a single stream fast, but under hundreds of
// concurrent pulls memory matters more. So a fixed number of streams get a
// large buffer and the rest a small one, which bounds the proxy's memory
// whatever the concurrency and the blob size.
const (
	largeCopyBuffer  = 256 << 10
	smallCopyBuffer  = 32 << 10
	largeCopyBuffers = 32
)

var (
	largeBufferPool  = sync.Pool{New: func() any { b := make([]byte, largeCopyBuffer); return &b }}
	smallBufferPool  = sync.Pool{New: func() any { b := make([]byte, smallCopyBuffer); return &b }}
	largeBufferSlots = make(chan struct{}, largeCopyBuffers)
)

// copyBuffer returns a buffer for one stream and the function that gives it back.
func copyBuffer() ([]byte, func()) {
	select {
	case largeBufferSlots <- struct{}{}:
		b := largeBufferPool.Get().(*[]byte)
		return *b, func() { largeBufferPool.Put(b); <-largeBufferSlots }
	default:
		b := smallBufferPool.Get().(*[]byte)
		return *b, func() { smallBufferPool.Put(b) }
	}
}

// forward sends the admitted request upstream with the Connector's
// credentials for the admission's scopes, and the query it re-encoded, and
// streams the answer back.
func (u *upstream) forward(w http.ResponseWriter, r *http.Request, a admission) {
	splice := a.route.kind == routeBlob && r.Method == http.MethodGet
	resp, err := u.exchange(r.Context(), r, a, r.Method, "", splice)
	if err != nil {
		u.failed(w, err)
		return
	}
	defer resp.Body.Close()
	u.respond(w, r, resp, nil)
}

// exchange sends method on path (the client's own path when empty) upstream
// for the admitted request r, with r's headers and, when it is r's own
// method, r's body, and returns the answer with redirects followed. With
// splice, a blob's body may go from socket to socket (splice.go).
func (u *upstream) exchange(ctx context.Context, r *http.Request, a admission, method, path string, splice bool) (*http.Response, error) {
	if splice {
		ctx = withSplice(ctx)
	}
	target := *u.base
	target.Path, target.RawPath, target.RawQuery = r.URL.Path, r.URL.RawPath, a.query
	if path != "" {
		target.Path, target.RawPath = path, ""
	}
	var body io.Reader
	sameRequest := method == r.Method
	if sameRequest && r.ContentLength != 0 {
		body = r.Body
	}
	req, err := http.NewRequestWithContext(ctx, method, target.String(), body)
	if err != nil {
		return nil, fmt.Errorf("cannot build the upstream request: %w", err)
	}
	if sameRequest {
		req.ContentLength = r.ContentLength
	}
	copyRequestHeaders(req.Header, r.Header)

	sent := time.Now()
	resp, transport, err := u.send(ctx, req, a.scopes, method == http.MethodPut || method == http.MethodPatch)
	u.metrics.upstream(ctx, a.routeLabel(), time.Since(sent))
	if err != nil {
		return nil, err
	}
	isBlobGET := a.route.kind == routeBlob && method == http.MethodGet
	return u.followRedirects(ctx, transport, req, resp, isBlobGET && u.passBlobRedirects)
}

// respond streams the upstream's answer to the client, its body also
// written to tee when tee is set (the cache, which never fails a write).
func (u *upstream) respond(w http.ResponseWriter, r *http.Request, resp *http.Response, tee io.Writer) {
	if resp.StatusCode == http.StatusUnauthorized {
		// The upstream refused our own credentials: that is ours to fix,
		// and its challenge must not reach the client.
		u.logger.Errorw("The upstream refused the connector's credentials", "status", resp.StatusCode)
		writeError(w, http.StatusBadGateway, codeUnknown, "the upstream registry refused the connector's credentials; check the Connector's status")
		return
	}
	copyResponseHeaders(w.Header(), resp.Header, u.base.Host)
	client, direct := directTo(r, resp)
	if direct {
		w.Header().Set("Connection", "close")
	}
	w.WriteHeader(resp.StatusCode)
	if r.Method == http.MethodHead {
		return
	}
	if spliced, ok := resp.Body.(*splicedBody); ok && tee == nil {
		var to io.Writer = w
		if direct {
			// The headers go out through the server, the body past it.
			if err := http.NewResponseController(w).Flush(); err != nil {
				return
			}
			to = &countedConn{TCPConn: client, w: w}
		}
		if _, err := spliced.relayTo(to); err != nil && !errors.Is(err, context.Canceled) {
			u.logger.Warnw("Streaming the upstream response broke off", zap.Error(err))
		}
		return
	}
	var body io.Reader = resp.Body
	if tee != nil {
		body = io.TeeReader(resp.Body, tee)
	}
	buf, release := copyBuffer()
	defer release()
	if _, err := io.CopyBuffer(writerOnly{w}, body, buf); err != nil && !errors.Is(err, context.Canceled) {
		u.logger.Warnw("Streaming the upstream response broke off", zap.Error(err))
	}
}

// followRedirects follows an upstream's redirect of a read (typically to blob
// storage) on the server: the client only ever talks to the proxy, and the
// Connector's credentials go only to the upstream's own host. With
// passStorage, a redirect to storage is returned instead (see
// passableRedirect).
func (u *upstream) followRedirects(ctx context.Context, transport http.RoundTripper, orig *http.Request, resp *http.Response, passStorage bool) (*http.Response, error) {
	for i := 0; i < maxRedirects; i++ {
		if orig.Method != http.MethodGet && orig.Method != http.MethodHead {
			return resp, nil
		}
		switch resp.StatusCode {
		case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		default:
			return resp, nil
		}
		loc, err := resp.Location()
		if err == nil && passStorage && u.passableRedirect(loc) {
			return resp, nil
		}
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("redirect without a usable Location: %w", err)
		}
		req, err := http.NewRequestWithContext(ctx, orig.Method, loc.String(), nil)
		if err != nil {
			return nil, err
		}
		for _, k := range []string{"Accept", "Range", "If-None-Match", "If-Range", "User-Agent"} {
			if v := orig.Header.Get(k); v != "" {
				req.Header.Set(k, v)
			}
		}
		// The credentials go only to the upstream's own host, over its own
		// scheme: never to another host, nor in the clear.
		next := http.RoundTripper(u.plain)
		if strings.EqualFold(loc.Host, u.base.Host) && loc.Scheme == u.base.Scheme {
			next = transport
		}
		if resp, err = next.RoundTrip(req); err != nil {
			return nil, err
		}
	}
	resp.Body.Close()
	return nil, fmt.Errorf("more than %d redirects", maxRedirects)
}

func (u *upstream) failed(w http.ResponseWriter, err error) {
	if errors.Is(err, context.Canceled) {
		return // the client went away
	}
	u.logger.Warnw("Upstream request failed", zap.Error(err))
	writeError(w, http.StatusBadGateway, codeUnknown, "the upstream registry is unreachable or failed; try again later")
}

// passableRedirect says whether a redirect may go to the client as it is:
// to another host than the upstream's (storage, with a pre-signed URL that
// is a capability for one blob), over http or https, and with no user
// information in it. A redirect to the upstream itself would need the
// Connector's credentials, so the proxy follows it.
func (u *upstream) passableRedirect(loc *url.URL) bool {
	return (loc.Scheme == "https" || loc.Scheme == "http") && loc.User == nil && loc.Host != "" &&
		!strings.EqualFold(loc.Host, u.base.Host)
}
