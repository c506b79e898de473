package main

import (
	"io"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// maxManifestBytes is distribution's own limit on a manifest.
const maxManifestBytes = 4 << 20

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
	// imageHost names the registry in events: the upstream's, as images
	// spell it (imageref.RegistryHost).
	imageHost string
	// forwardedHops is how many proxies in front of this one the install
	// trusts to append to X-Forwarded-For (clientOf).
	forwardedHops int
	// limiter, tarpit and refusals keep unauthenticated clients cheap
	// (refusals.go).
	limiter  *refusalLimiter
	tarpit   *tarpit
	refusals *refusalAggregator
	// cache, when spec.cache is set, answers reads it may (cached.go).
	cache *readCache
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	body := &countingReader{ReadCloser: r.Body}
	r.Body = body
	a := p.admit(r)
	var done served
	if a.unauthenticated() && !a.handshake() {
		p.limiter.failed(a.client)
	}
	if a.rateLimited() {
		p.tarpit.hold(r.Context())
	}
	switch {
	case a.refusal != nil:
		p.writeRefusal(rec, a.refusal)
	case a.route.kind == routeBase:
		rec.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		rec.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(rec, "{}")
	default:
		if a.route.kind == routeManifest && r.Method == http.MethodPut {
			r.Body = http.MaxBytesReader(rec, r.Body, maxManifestBytes)
		}
		switch {
		case p.cache != nil && cachedRead(r, a):
			done.cache = p.cache.serve(rec, r, a)
		case a.route.kind == routeReferrers && r.Method == http.MethodGet:
			p.upstream.referrers(rec, r, a)
		case a.route.kind == routeManifest && r.Method == http.MethodPut:
			done.subject = p.upstream.pushManifest(rec, r, a)
		case a.route.kind == routeManifest && r.Method == http.MethodDelete:
			p.upstream.deleteManifest(rec, r, a)
		default:
			p.upstream.forward(rec, r, a)
		}
	}
	p.emit(r, rec.status, rec.Header(), a, done)
	p.metrics.request(r.Context(), a.routeLabel(), rec.status, string(a.verb), rec.bytes, body.n)
	if done.cache != "" {
		p.metrics.cached(r.Context(), done.cache, rec.bytes)
	}
	if a.rateLimited() {
		// A flood is counted in the metrics; logging each of its requests
		// would spend on the log what the limit saves.
		return
	}
	var user, uid, repository, reason string
	if a.id != nil {
		user, uid = a.id.Username, a.id.UID
	}
	if a.routed {
		repository = a.route.name
	}
	if a.refusal != nil {
		reason = a.refusal.reason
	}
	p.logger.Infow("request",
		"method", r.Method, "path", r.URL.Path, "repository", repository,
		"user", user, "uid", uid, "status", rec.status, "bytes", rec.bytes,
		"duration", time.Since(start), "reason", reason, "cache", done.cache)
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

// ReadFrom lets a spliced blob reach the client's connection itself (see
// splice.go), counting what it sent.
func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	r.wrote = true
	var n int64
	var err error
	if rf, ok := r.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(writerOnly{r.ResponseWriter}, src)
	}
	r.bytes += n
	return n, err
}

// sent counts bytes written to the client past the ResponseWriter.
func (r *recorder) sent(n int64) { r.bytes += n }

// countedConn is the client's connection, written to directly for a blob
// (splice.go), counting what it sends in the access log's recorder.
type countedConn struct {
	*net.TCPConn
	w http.ResponseWriter
}

func (c *countedConn) Write(b []byte) (int, error) {
	n, err := c.TCPConn.Write(b)
	c.count(int64(n))
	return n, err
}

// ReadFrom splices when src is a TCP connection.
func (c *countedConn) ReadFrom(src io.Reader) (int64, error) {
	n, err := c.TCPConn.ReadFrom(src)
	c.count(n)
	return n, err
}

func (c *countedConn) count(n int64) {
	if rec, ok := c.w.(*recorder); ok {
		rec.sent(n)
	}
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
