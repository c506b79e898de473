package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/zap"

	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/registry"
)

// testProxy is a proxy over a real upstream with the Kubernetes API faked,
// counting the API calls it makes.
type testProxy struct {
	*httptest.Server
	reviews, accessChecks atomic.Int32
	events                recordedEvents
	proxy                 *proxy
}

// newTestProxy serves a proxy for upstream with the shipped server's
// settings; tokens as fakeKube says.
func newTestProxy(t *testing.T, upstream string, mp metric.MeterProvider) *testProxy {
	t.Helper()
	return newTestProxyWith(t, config{upstream: upstream}, mp)
}

// newTestProxyWith is newTestProxy with more of the config set (the
// upstream, a cache); the Connector's identity and Secret are the test's.
func newTestProxyWith(t *testing.T, c config, mp metric.MeterProvider) *testProxy {
	t.Helper()
	c.credentialsDir, c.namespace, c.name, c.audience = mountedSecret(t), "ns", "harbor", testAudience
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	tp := &testProxy{}
	kube := fakeKube(&tp.reviews, &tp.accessChecks)
	p, err := newProxy(ctx, c,
		testSigner.Keys(), kube.AuthenticationV1().TokenReviews(), kube.AuthorizationV1().SubjectAccessReviews(), mp, zap.NewNop().Sugar())
	if err != nil {
		t.Fatal(err)
	}
	p.events = &tp.events
	tp.proxy = p
	tp.Server = httptest.NewUnstartedServer(nil)
	tp.Server.Config = newServer(p.withReadiness()) // as shipped: h2c, limits, the client's connection in the context
	tp.Server.Start()
	t.Cleanup(tp.Close)
	return tp
}

// mountedSecret is the test registry's Secret as the kubelet mounts it.
func mountedSecret(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for k, v := range registry.SecretData() {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A --blob-redirects the proxy does not know stops it at start, rather than
// following or passing by guess.
func TestAnUnknownBlobRedirectsModeIsRefused(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := newProxy(ctx, config{upstream: "http://127.0.0.1:1", credentialsDir: mountedSecret(t), namespace: "ns", name: "harbor", blobRedirects: "proxy"},
		nil, nil, nil, noop.NewMeterProvider(), zap.NewNop().Sugar())
	if err == nil || !strings.Contains(err.Error(), "want follow or pass") {
		t.Fatalf("newProxy with --blob-redirects proxy: %v", err)
	}
}

// status sends a request as the client test-client/1.0, logged in with
// token unless it is empty, and returns the status code.
func (tp *testProxy) status(t *testing.T, method, path, token string) int {
	t.Helper()
	req, _ := http.NewRequest(method, tp.URL+path, nil)
	if token != "" {
		req.SetBasicAuth("u", token)
	}
	req.Header.Set("User-Agent", "test-client/1.0")
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func pull(t *testing.T, proxyURL, path string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", proxyURL+path, nil)
	req.SetBasicAuth("u", goodToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// An upstream that sends blob reads to object storage: the proxy follows the
// redirect itself, the client never sees the storage URL, and the storage
// never sees the Connector's credentials.
func TestRedirectsToBlobStorageAreFollowedWithoutCredentials(t *testing.T) {
	reg := registry.NewHtpasswd(t)
	var storageAuth atomic.Value
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		storageAuth.Store(r.Header.Get("Authorization") + "|" + r.URL.Query().Get("sig"))
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = io.WriteString(w, "blob-bytes-from-storage")
	}))
	defer storage.Close()
	target, _ := url.Parse(reg.URL)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/blobs/sha256:") && r.Method == http.MethodGet && r.Header.Get("Authorization") != "" {
			http.Redirect(w, r, storage.URL+"/bucket/blob?sig=presigned", http.StatusTemporaryRedirect)
			return
		}
		httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, r)
	}))
	defer upstream.Close()

	proxy := newTestProxy(t, upstream.URL, noop.NewMeterProvider())
	resp, body := pull(t, proxy.URL, "/v2/testing/busybox/blobs/sha256:"+strings.Repeat("a", 64))
	if resp.StatusCode != 200 || body != "blob-bytes-from-storage" {
		t.Fatalf("status %d body %q, want the storage's bytes", resp.StatusCode, body)
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		t.Errorf("the client was shown %q", loc)
	}
	if got := storageAuth.Load(); got != "|presigned" {
		t.Errorf("storage saw %q, want no Authorization and the presigned query", got)
	}
}

// An upstream's 429 reaches the client with its Retry-After; its challenge
// does not.
func TestRateLimitsPassThrough(t *testing.T) {
	reg := registry.NewHtpasswd(t)
	target, _ := url.Parse(reg.URL)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/manifests/busy") {
			w.Header().Set("Retry-After", "17")
			w.Header().Set("WWW-Authenticate", `Basic realm="upstream"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`)
			return
		}
		httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, r)
	}))
	defer upstream.Close()

	proxy := newTestProxy(t, upstream.URL, noop.NewMeterProvider())
	resp, body := pull(t, proxy.URL, "/v2/testing/busybox/manifests/busy")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "17" || !strings.Contains(body, "TOOMANYREQUESTS") {
		t.Fatalf("status %d Retry-After %q body %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if resp.Header.Get("WWW-Authenticate") != "" {
		t.Error("the upstream's challenge reached the client")
	}
}

// A blob mount reads its source, so a caller who may push but not pull is
// refused before anything goes upstream.
func TestMountNeedsPull(t *testing.T) {
	reg := registry.NewHtpasswd(t)
	proxy := newTestProxy(t, reg.URL, noop.NewMeterProvider())
	req, _ := http.NewRequest("POST", proxy.URL+"/v2/testing/new/blobs/uploads/?mount=sha256:"+strings.Repeat("a", 64)+"&from=testing/busybox", nil)
	req.SetBasicAuth("u", pushOnlyToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "may not pull") {
		t.Fatalf("status %d body %s, want 403 naming pull", resp.StatusCode, body)
	}
}

// A mount without from would let the registry pick the source from any
// repository it can read; it is refused before anything goes upstream.
func TestMountWithoutFromIsRefused(t *testing.T) {
	var upstreamCalls atomic.Int32
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamCalls.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer upstream.Close()
	proxy := newTestProxy(t, upstream.URL, noop.NewMeterProvider())
	req, _ := http.NewRequest("POST", proxy.URL+"/v2/testing/new/blobs/uploads/?mount=sha256:"+strings.Repeat("a", 64), nil)
	req.SetBasicAuth("u", pushOnlyToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "UNSUPPORTED") || !strings.Contains(string(body), "from") {
		t.Errorf("status %d body %s, want 400 UNSUPPORTED naming from", resp.StatusCode, body)
	}
	if n := upstreamCalls.Load(); n != 0 {
		t.Errorf("the upstream was asked %d times", n)
	}
}

// roundTripperFunc answers requests with a function.
type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A redirect to the upstream's own host, but over plain HTTP, is fetched
// without the credentials: they go to the upstream only as its address says.
func TestARedirectToAnotherSchemeGetsNoCredentials(t *testing.T) {
	var viaCredentials, viaPlain []string
	answer := func(r *http.Request) *http.Response {
		return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader("blob")), Request: r}
	}
	u := &upstream{
		base: &url.URL{Scheme: "https", Host: "harbor.example.com"},
		plain: roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			viaPlain = append(viaPlain, r.URL.String())
			return answer(r), nil
		}),
	}
	credentials := roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		viaCredentials = append(viaCredentials, r.URL.String())
		return answer(r), nil
	})
	for _, location := range []string{"http://harbor.example.com/storage/blob", "https://harbor.example.com/storage/blob"} {
		orig, _ := http.NewRequest(http.MethodGet, "https://harbor.example.com/v2/team/app/blobs/sha256:ab", nil)
		redirect := &http.Response{StatusCode: http.StatusTemporaryRedirect, Header: http.Header{"Location": {location}},
			Body: io.NopCloser(strings.NewReader("")), Request: orig}
		resp, err := u.followRedirects(context.Background(), credentials, orig, redirect, false)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if len(viaPlain) != 1 || viaPlain[0] != "http://harbor.example.com/storage/blob" {
		t.Errorf("without credentials: %v, want the plain HTTP redirect only", viaPlain)
	}
	if len(viaCredentials) != 1 || viaCredentials[0] != "https://harbor.example.com/storage/blob" {
		t.Errorf("with credentials: %v, want the HTTPS redirect only", viaCredentials)
	}
}

// With blobRedirects: pass, a redirect to storage on another host goes to
// the client untouched and nothing is fetched; a redirect to the upstream
// itself (it would need the credentials) or one carrying user information
// is followed as before.
func TestOnlyRedirectsToStorageArePassed(t *testing.T) {
	var fetched []string
	answer := func(r *http.Request) (*http.Response, error) {
		fetched = append(fetched, r.URL.Redacted())
		return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader("blob")), Request: r}, nil
	}
	u := &upstream{base: &url.URL{Scheme: "https", Host: "harbor.example.com"}, plain: roundTripperFunc(answer)}
	for _, tc := range []struct {
		location string
		passed   bool
	}{
		{"https://storage.example.com/blobs/ab?X-Amz-Signature=sig", true},
		{"http://storage.example.com:9000/blobs/ab", true},
		{"https://harbor.example.com/storage/ab", false},
		{"https://HARBOR.example.com/storage/ab", false},
		{"https://robot:secret@storage.example.com/blobs/ab", false},
	} {
		fetched = nil
		orig, _ := http.NewRequest(http.MethodGet, "https://harbor.example.com/v2/team/app/blobs/sha256:ab", nil)
		redirect := &http.Response{StatusCode: http.StatusTemporaryRedirect, Header: http.Header{"Location": {tc.location}},
			Body: io.NopCloser(strings.NewReader("")), Request: orig}
		resp, err := u.followRedirects(context.Background(), roundTripperFunc(answer), orig, redirect, true)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if passed := resp.StatusCode == http.StatusTemporaryRedirect; passed != tc.passed {
			t.Errorf("%s: passed %t, want %t", tc.location, passed, tc.passed)
		}
		if tc.passed && (len(fetched) != 0 || resp.Header.Get("Location") != tc.location) {
			t.Errorf("%s: fetched %v, Location %q", tc.location, fetched, resp.Header.Get("Location"))
		}
	}
}

// Concurrent first requests for one repository make one ping and one token
// exchange upstream, not one each.
func TestConcurrentFirstRequestsShareOneTokenExchange(t *testing.T) {
	var pings, exchanges atomic.Int32
	release := make(chan struct{})
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v2/":
			pings.Add(1)
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+srv.URL+`/token",service="registry"`)
			w.WriteHeader(http.StatusUnauthorized)
		case "/token":
			exchanges.Add(1)
			<-release
			_, _ = io.WriteString(w, `{"token":"t","expires_in":300}`)
		}
	}))
	defer srv.Close()
	u, err := newUpstream(srv.URL, authn.FromConfig(authn.AuthConfig{Username: "u", Password: "p"}), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := u.transportFor(context.Background(), scopesFor("team/app", false, ""), false); err != nil {
				t.Error(err)
			}
		}()
	}
	// Let the exchange finish once it has started: callers that come after
	// it wait on it or find its transport.
	for exchanges.Load() == 0 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if pings.Load() != 1 || exchanges.Load() != 1 {
		t.Errorf("%d pings and %d token exchanges for 20 concurrent first requests, want 1 and 1", pings.Load(), exchanges.Load())
	}
}

// A chunked upload outlives the upstream's token: the proxy renews a
// scope's token before a PUT or PATCH when it is older than its write age,
// since a streamed chunk cannot be sent again after a refusal.
func TestAChunkedPushOutlivesTheUpstreamToken(t *testing.T) {
	const ttl = 2 * time.Second
	reg := registry.NewTokenAuth(t, registry.WithTokenTTL(ttl))
	proxy := newTestProxy(t, reg.URL, noop.NewMeterProvider())
	proxy.proxy.upstream.writeTokenAge = ttl / 2

	do := func(method, path string, body []byte, want int) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, proxy.URL+path, bytes.NewReader(body))
		req.SetBasicAuth("u", pushOnlyToken)
		if body != nil {
			req.Header.Set("Content-Type", "application/octet-stream")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, msg, want)
		}
		return resp
	}
	chunk1, chunk2 := bytes.Repeat([]byte("a"), 64<<10), bytes.Repeat([]byte("b"), 64<<10)
	started := time.Now()
	loc := do("POST", "/v2/testing/chunked/blobs/uploads/", nil, http.StatusAccepted).Header.Get("Location")
	loc = do("PATCH", loc, chunk1, http.StatusAccepted).Header.Get("Location")
	// The token the upload started with has expired.
	harness.WaitFor(t, 10*time.Second, "the first token's expiry", func(context.Context) (bool, string) {
		return time.Since(started) > ttl, time.Since(started).String()
	})
	loc = do("PATCH", loc, chunk2, http.StatusAccepted).Header.Get("Location")
	sum := sha256.Sum256(append(append([]byte(nil), chunk1...), chunk2...))
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	do("PUT", loc+sep+"digest=sha256:"+hex.EncodeToString(sum[:]), nil, http.StatusCreated)
}
