// Package registryclient is how oci-connector reaches an upstream registry
// with a Connector's credentials: one TLS trust, one pooled transport, and
// go-containerregistry's auth (Basic, or the registry's token flow,
// negotiated from its challenge). The proxy uses it for every request and
// the controller for its upstream check, so the check proves exactly the
// path the proxy takes.
package registryclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// ErrNoCertificate is a CA bundle without a certificate in it.
var ErrNoCertificate = errors.New("the upstream CA bundle holds no certificate")

// ParseAddress reads a Connector's address: its base URL, and the registry
// as go-containerregistry names it (plain HTTP for an http:// address).
func ParseAddress(address string) (*url.URL, name.Registry, error) {
	base, err := url.Parse(address)
	if err != nil || base.Host == "" || (base.Scheme != "http" && base.Scheme != "https") {
		return nil, name.Registry{}, fmt.Errorf("upstream address %q is not an http(s) URL with a host", address)
	}
	var opts []name.Option
	if base.Scheme == "http" {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(base.Host, opts...)
	if err != nil {
		return nil, name.Registry{}, fmt.Errorf("upstream registry %q: %w", base.Host, err)
	}
	return base, reg, nil
}

// NewTransport is the pooled transport under every authenticated one. It
// trusts the system roots plus caPEM, or nothing when insecureSkipVerify
// (a Connector's opt-in). It carries no credentials, so it is also what
// fetches a redirect to another host.
func NewTransport(caPEM []byte, insecureSkipVerify bool) (*http.Transport, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecureSkipVerify} //nolint:gosec // opt-in per Connector
	if len(caPEM) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, ErrNoCertificate
		}
		tlsConfig.RootCAs = pool
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsConfig,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Pass bodies through byte for byte: digests are over what the
		// registry stored, not a decompressed form.
		DisableCompression: true,
	}, nil
}

// Authenticate pings the registry and returns a transport that logs in to
// it with auth for scopes ("repository:<name>:pull[,push]"): Basic on every
// request, or a token from the token service the registry's challenge
// names, fetched now and renewed on a 401. For an https address it speaks
// only HTTPS to the registry's host: go-containerregistry would otherwise
// fall back to plain HTTP for a loopback or private address, credentials
// included.
func Authenticate(ctx context.Context, base *url.URL, reg name.Registry, auth authn.Authenticator, plain http.RoundTripper, scopes []string) (http.RoundTripper, error) {
	if base.Scheme == "https" {
		plain = httpsOnly{host: base.Host, inner: plain}
	}
	return transport.NewWithContext(ctx, reg, auth, plain, scopes)
}

// ErrPlainHTTP is a plain HTTP request to a registry whose address is https.
var ErrPlainHTTP = errors.New("the upstream address is https: refusing plain HTTP")

// httpsOnly refuses plain HTTP to host.
type httpsOnly struct {
	host  string
	inner http.RoundTripper
}

func (h httpsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" && strings.EqualFold(req.URL.Host, h.host) {
		return nil, fmt.Errorf("%w: %s", ErrPlainHTTP, req.URL.Redacted())
	}
	return h.inner.RoundTrip(req)
}

// PullScope is the token scope for reading repository.
func PullScope(repository string) string {
	return fmt.Sprintf("repository:%s:pull", repository)
}
