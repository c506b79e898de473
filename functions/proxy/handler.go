package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
)

const (
	// maxManifestBytes is distribution's own limit on a manifest.
	maxManifestBytes = 4 << 20
	maxRedirects     = 5
)

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

// proxy is the registry proxy for one Connector.
type proxy struct {
	connector string // namespace/name, for messages and the challenge realm
	namespace string
	name      string
	authn     *authenticator
	authz     *authorizer
	scope     scope
	upstream  *upstream
	logger    *zap.SugaredLogger
	metrics   *proxyMetrics
	// events receives the proxy's CloudEvents; nil when there is no sink.
	events eventSender
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	entry := accessEntry{method: r.Method, path: r.URL.Path, route: "unknown"}
	body := &countingReader{ReadCloser: r.Body}
	r.Body = body
	p.serve(rec, r, &entry)
	p.emit(r, rec.status, rec.Header(), &entry)
	p.metrics.request(r.Context(), entry.route, rec.status, string(entry.verb), rec.bytes, body.n)
	p.logger.Infow("request",
		"method", entry.method, "path", entry.path, "repository", entry.repository,
		"user", entry.user, "uid", entry.uid, "status", rec.status, "bytes", rec.bytes,
		"duration", time.Since(start), "reason", entry.reason)
}

// accessEntry is what the access log and the events say of a request:
// never a token.
type accessEntry struct {
	method, path, route, repository, user, uid, reason string
	verb                                               v1alpha1.Verb
	kind                                               routeKind
	reference, pod                                     string
}

func (p *proxy) serve(w http.ResponseWriter, r *http.Request, entry *accessEntry) {
	verb, ok := verbFor(r.Method)
	entry.verb = verb
	if !ok {
		entry.reason = "method"
		writeError(w, http.StatusMethodNotAllowed, codeUnsupported, "method not allowed")
		return
	}
	token, err := tokenFrom(r)
	if err != nil {
		entry.reason = "no token"
		p.challenge(w, "authentication required: log in with any username and a ServiceAccount token as the password")
		return
	}
	id, err := p.authn.authenticate(r.Context(), token)
	if errors.Is(err, errBadToken) {
		entry.reason = "bad token"
		p.challenge(w, fmt.Sprintf("the token is not valid for this proxy: it must be an unexpired ServiceAccount token with audience %q", p.authn.audience))
		return
	} else if err != nil {
		entry.reason = "authn unavailable"
		p.logger.Errorw("Cannot check a token", zap.Error(err))
		writeError(w, http.StatusServiceUnavailable, codeUnknown, "cannot check the token right now; try again")
		return
	}
	entry.user, entry.uid = id.Username, id.UID
	if pods := id.Extra[podNameExtra]; len(pods) == 1 {
		entry.pod = pods[0]
	}

	rt, err := parseRoute(r.URL.Path)
	if err != nil {
		var re *routeError
		errors.As(err, &re)
		entry.reason = "bad route"
		status := http.StatusBadRequest
		if re.code == codeUnsupported {
			status = http.StatusNotFound
		}
		writeError(w, status, re.code, re.message)
		return
	}
	entry.repository, entry.kind, entry.reference = rt.name, rt.kind, rt.reference
	entry.route = routeName(rt.kind, true)

	if !p.authorize(w, r.Context(), id, verb, entry) {
		return
	}
	switch rt.kind {
	case routeBase:
		w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}")
		return
	case routeCatalog:
		entry.reason = "catalog"
		writeError(w, http.StatusForbidden, codeDenied, "the catalog is not served through the proxy; list the tags of a repository instead")
		return
	}
	if !p.scope.allows(rt.name, verb) {
		entry.reason = "out of scope"
		writeError(w, http.StatusForbidden, codeDenied, fmt.Sprintf("repository %q is outside the scope of connector %s for %s", rt.name, p.connector, verb))
		return
	}
	mountFrom := ""
	if rt.kind == routeUpload && r.Method == http.MethodPost {
		if mountFrom = r.URL.Query().Get("from"); mountFrom != "" {
			if !nameRE.MatchString(mountFrom) {
				writeError(w, http.StatusBadRequest, codeNameInvalid, fmt.Sprintf("invalid mount source %q", mountFrom))
				return
			}
			if !p.scope.allows(mountFrom, v1alpha1.VerbPull) {
				entry.reason = "out of scope"
				writeError(w, http.StatusForbidden, codeDenied, fmt.Sprintf("mount source %q is outside the scope of connector %s", mountFrom, p.connector))
				return
			}
			// Mounting reads the source: the caller must be allowed to pull too.
			if !p.authorize(w, r.Context(), id, v1alpha1.VerbPull, entry) {
				return
			}
		}
	}
	if rt.kind == routeManifest && r.Method == http.MethodPut {
		if r.ContentLength > maxManifestBytes {
			writeError(w, http.StatusRequestEntityTooLarge, codeManifestInvalid, "manifest too large")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxManifestBytes)
	}
	p.forward(w, r, entry.route, scopesFor(rt.name, verb == v1alpha1.VerbPush, mountFrom))
}

// authorize asks RBAC; it answers the client itself when the answer is no.
func (p *proxy) authorize(w http.ResponseWriter, ctx context.Context, id *identity, verb v1alpha1.Verb, entry *accessEntry) bool {
	ok, err := p.authz.allowed(ctx, id, verb)
	if err != nil {
		entry.reason = "authz unavailable"
		p.logger.Errorw("Cannot check access", zap.Error(err))
		writeError(w, http.StatusServiceUnavailable, codeUnknown, "cannot check access right now; try again")
		return false
	}
	if !ok {
		entry.reason = "no RBAC"
		role := "oci-connector-puller"
		if verb == v1alpha1.VerbPush {
			role = "oci-connector-pusher"
		}
		writeError(w, http.StatusForbidden, codeDenied, fmt.Sprintf("%s may not %s through connector %s; bind the ClusterRole %s to it in that namespace",
			id.Username, verb, p.connector, role))
		return false
	}
	return true
}

func (p *proxy) challenge(w http.ResponseWriter, message string) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", p.connector))
	writeError(w, http.StatusUnauthorized, codeUnauthorized, message)
}

// forward sends the request upstream with the Connector's credentials and
// streams the answer back.
func (p *proxy) forward(w http.ResponseWriter, r *http.Request, route string, scopes []string) {
	ctx := r.Context()
	transport, err := p.upstream.transportFor(ctx, scopes)
	if err != nil {
		p.upstreamFailed(w, err)
		return
	}
	target := *p.upstream.base
	target.Path, target.RawPath, target.RawQuery = r.URL.Path, r.URL.RawPath, r.URL.RawQuery
	var body io.Reader
	if r.ContentLength != 0 {
		body = r.Body
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, target.String(), body)
	if err != nil {
		writeError(w, http.StatusBadRequest, codeUnsupported, "cannot build the upstream request")
		return
	}
	req.ContentLength = r.ContentLength
	copyRequestHeaders(req.Header, r.Header)

	sent := time.Now()
	resp, err := transport.RoundTrip(req)
	p.metrics.upstream(ctx, route, time.Since(sent))
	if err != nil {
		p.upstreamFailed(w, err)
		return
	}
	resp, err = p.followRedirects(ctx, transport, req, resp)
	if err != nil {
		p.upstreamFailed(w, err)
		return
	}
	defer resp.Body.Close()

	if resp.StatusCode == http.StatusUnauthorized {
		// The upstream refused our own credentials: that is ours to fix,
		// and its challenge must not reach the client.
		p.logger.Errorw("The upstream refused the connector's credentials", "status", resp.StatusCode)
		writeError(w, http.StatusBadGateway, codeUnknown, "the upstream registry refused the connector's credentials; check the Connector's status")
		return
	}
	copyResponseHeaders(w.Header(), resp.Header, p.upstream.base.Host)
	w.WriteHeader(resp.StatusCode)
	if r.Method == http.MethodHead {
		return
	}
	buf, release := copyBuffer()
	defer release()
	if _, err := io.CopyBuffer(writerOnly{w}, resp.Body, buf); err != nil && !errors.Is(err, context.Canceled) {
		p.logger.Warnw("Streaming the upstream response broke off", zap.Error(err))
	}
}

// followRedirects follows an upstream's redirect of a read (typically to blob
// storage) on the server: the client only ever talks to the proxy, and the
// Connector's credentials go only to the upstream's own host.
func (p *proxy) followRedirects(ctx context.Context, transport http.RoundTripper, orig *http.Request, resp *http.Response) (*http.Response, error) {
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
		next := http.RoundTripper(p.upstream.plain)
		if strings.EqualFold(loc.Host, p.upstream.base.Host) {
			next = transport
		}
		if resp, err = next.RoundTrip(req); err != nil {
			return nil, err
		}
	}
	resp.Body.Close()
	return nil, fmt.Errorf("more than %d redirects", maxRedirects)
}

func (p *proxy) upstreamFailed(w http.ResponseWriter, err error) {
	if errors.Is(err, context.Canceled) {
		return // the client went away
	}
	p.logger.Warnw("Upstream request failed", zap.Error(err))
	writeError(w, http.StatusBadGateway, codeUnknown, "the upstream registry is unreachable or failed; try again later")
}

// recorder remembers the status and size of a response for the access log.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Flush lets streamed responses through promptly.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// countingReader counts the bytes a client uploads.
type countingReader struct {
	io.ReadCloser
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.ReadCloser.Read(b)
	c.n += int64(n)
	return n, err
}

// writerOnly hides ReadFrom so io.CopyBuffer uses our pooled buffer.
type writerOnly struct{ io.Writer }
