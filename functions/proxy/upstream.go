package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"go.uber.org/zap"
	"k8s.io/utils/lru"
)

const maxScopedTransports = 1024

// upstream reaches the Connector's registry with its credentials. It keeps one
// go-containerregistry transport per scope: that transport does the registry's
// auth (Basic, or the Bearer token dance with tokens cached until they expire
// and renewed on a 401).
type upstream struct {
	base     *url.URL
	registry name.Registry
	auth     authn.Authenticator
	// plain is the pooled transport under every scoped one; it also fetches
	// redirects to blob storage, which must not get the credentials.
	plain *http.Transport
	// transports are the scoped transports, least recently used first out.
	transports *lru.Cache

	logger  *zap.SugaredLogger
	metrics *proxyMetrics
}

func newUpstream(address string, auth authn.Authenticator, caPEM []byte, insecureSkipVerify bool) (*upstream, error) {
	base, err := url.Parse(address)
	if err != nil || base.Host == "" {
		return nil, fmt.Errorf("upstream address %q is not a URL with a host", address)
	}
	var opts []name.Option
	if base.Scheme == "http" {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(base.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("upstream registry %q: %w", base.Host, err)
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecureSkipVerify} //nolint:gosec // opt-in per Connector
	if len(caPEM) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, fmt.Errorf("the upstream CA bundle holds no certificate")
		}
		tlsConfig.RootCAs = pool
	}
	plain := &http.Transport{
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
	}
	return &upstream{base: base, registry: reg, auth: auth, plain: plain, transports: lru.New(maxScopedTransports),
		logger: zap.NewNop().Sugar()}, nil
}

// scopesFor lists the token scopes a request needs.
func scopesFor(repo string, push bool, mountFrom string) []string {
	actions := "pull"
	if push {
		actions = "pull,push"
	}
	scopes := []string{fmt.Sprintf("repository:%s:%s", repo, actions)}
	if mountFrom != "" && mountFrom != repo {
		scopes = append(scopes, fmt.Sprintf("repository:%s:pull", mountFrom))
	}
	return scopes
}

// transportFor returns the authenticated transport for these scopes, making it
// (one ping and, for token auth, one token request) on first use.
func (u *upstream) transportFor(ctx context.Context, scopes []string) (http.RoundTripper, error) {
	sorted := append([]string(nil), scopes...)
	sort.Strings(sorted)
	key := strings.Join(sorted, " ")
	if t, ok := u.transports.Get(key); ok {
		return t.(http.RoundTripper), nil
	}
	t, err := transport.NewWithContext(ctx, u.registry, u.auth, u.plain, scopes)
	if err != nil {
		return nil, err
	}
	u.transports.Add(key, t)
	return t, nil
}

// forget drops every scoped transport, so that new requests authenticate with
// rotated credentials; requests in flight finish on the transport they hold.
func (u *upstream) forget() {
	u.transports.Clear()
}
