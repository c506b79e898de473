package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"
	"k8s.io/utils/lru"

	"github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/credentials"
	"github.com/oci-connector/oci-connector/pkg/registryclient"
)

const maxScopedTransports = 1024

// exchangeTimeout bounds the ping and token exchange for one scope.
const exchangeTimeout = 30 * time.Second

// DefaultWriteTokenAge is how old a scope's upstream token may be when a
// PUT or PATCH starts; an older one is renewed first. A streamed body cannot
// be sent twice, so a token that expires between the chunks of an upload
// must not be found out by a refusal.
const DefaultWriteTokenAge = time.Minute

// rotatingCredentials are credentials that may change under the proxy: the
// mounted Secret.
type rotatingCredentials interface {
	// generation identifies the credentials in force.
	generation() *credentials.Basic
	// refresh reads them again now.
	refresh()
	// before are the ones in force before the last change, or nil: only
	// shortly after a change, until the new ones work, and while few
	// logins with them were refused.
	before() authn.Authenticator
	// beforeRefused says the upstream refused before's credentials too.
	beforeRefused()
	// worked says the upstream took the credentials of generation gen.
	worked(gen *credentials.Basic)
}

// scopedTransport is an authenticated transport and when it was made.
type scopedTransport struct {
	rt   http.RoundTripper
	made time.Time
}

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
	plain http.RoundTripper
	// transports are the scoped transports, least recently used first out.
	transports *lru.Cache
	// exchanges collapses concurrent first requests for one scope into one
	// ping and token exchange.
	exchanges singleflight.Group
	// writeTokenAge is DefaultWriteTokenAge unless the flag says otherwise.
	writeTokenAge time.Duration
	// rotation, when set, offers other credentials when the upstream
	// refuses the current ones.
	rotation rotatingCredentials
	// passBlobRedirects hands the upstream's redirects of blob GETs to
	// storage on another host to the client (spec.proxy.blobRedirects: pass).
	passBlobRedirects bool
	// referrerLocks make updates of one referrers index take turns
	// (referrersindex.go).
	referrerLocks subjectLocks

	logger  *zap.SugaredLogger
	metrics *proxyMetrics
}

// upstreamOption sets what an upstream has beyond its address and
// credentials.
type upstreamOption func(*upstream)

// withRotation has the upstream follow creds as they change: a change
// forgets the transports made with the old ones, and a refusal may try the
// ones before (rotation.go).
func withRotation(creds *mountedCredentials) upstreamOption {
	return func(u *upstream) {
		u.rotation = creds
		creds.onChange = u.forget
	}
}

// withBlobRedirects sets what to do with a redirect of a blob GET.
func withBlobRedirects(mode connector.BlobRedirects) upstreamOption {
	return func(u *upstream) { u.passBlobRedirects = mode == connector.BlobRedirectsPass }
}

// withWriteTokenAge renews a scope's token before a write when it is older
// than age (DefaultWriteTokenAge when not positive).
func withWriteTokenAge(age time.Duration) upstreamOption {
	return func(u *upstream) {
		if age > 0 {
			u.writeTokenAge = age
		}
	}
}

// withObservers sets the logger and the metrics.
func withObservers(logger *zap.SugaredLogger, m *proxyMetrics) upstreamOption {
	return func(u *upstream) { u.logger, u.metrics = logger, m }
}

func newUpstream(address string, auth authn.Authenticator, caPEM []byte, insecureSkipVerify bool, opts ...upstreamOption) (*upstream, error) {
	base, reg, err := registryclient.ParseAddress(address)
	if err != nil {
		return nil, err
	}
	plain, err := registryclient.NewTransport(caPEM, insecureSkipVerify)
	if err != nil {
		return nil, err
	}
	u := &upstream{base: base, registry: reg, auth: auth, plain: newSplicing(plain), transports: lru.New(maxScopedTransports),
		writeTokenAge: DefaultWriteTokenAge, logger: zap.NewNop().Sugar()}
	for _, o := range opts {
		o(u)
	}
	return u, nil
}

// scopesFor lists the token scopes a request needs.
func scopesFor(repo string, push bool, mountFrom string) []string {
	actions := "pull"
	if push {
		actions = "pull,push"
	}
	scopes := []string{fmt.Sprintf("repository:%s:%s", repo, actions)}
	if mountFrom != "" && mountFrom != repo {
		scopes = append(scopes, registryclient.PullScope(mountFrom))
	}
	return scopes
}

// transportFor returns the authenticated transport for these scopes, making it
// (one ping and, for token auth, one token request) on first use, and again
// for a write when it is older than writeTokenAge.
func (u *upstream) transportFor(ctx context.Context, scopes []string, write bool) (http.RoundTripper, error) {
	sorted := append([]string(nil), scopes...)
	sort.Strings(sorted)
	key := strings.Join(sorted, " ")
	if v, ok := u.transports.Get(key); ok {
		if t := v.(scopedTransport); !write || time.Since(t.made) < u.writeTokenAge {
			return t.rt, nil
		}
	}
	ch := u.exchanges.DoChan(key, func() (any, error) {
		// Detached from the first caller: the others wait on this exchange.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), exchangeTimeout)
		defer cancel()
		t, err := registryclient.Authenticate(ctx, u.base, u.registry, u.auth, u.plain, scopes)
		if err != nil {
			return nil, err
		}
		u.transports.Add(key, scopedTransport{rt: t, made: time.Now()})
		return t, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(http.RoundTripper), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// forget drops every scoped transport, so that new requests authenticate with
// rotated credentials; requests in flight finish on the transport they hold.
func (u *upstream) forget() {
	u.transports.Clear()
}
