package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/zap"

	"github.com/oci-connector/oci-connector/test/registry"
)

// testProxy is a proxy over a real upstream with the Kubernetes API faked,
// counting the API calls it makes.
type testProxy struct {
	*httptest.Server
	reviews, accessChecks atomic.Int32
	events                recordedEvents
}

// newTestProxy serves a proxy for upstream; tokens as fakeKube says.
func newTestProxy(t *testing.T, upstream string, mp metric.MeterProvider) *testProxy {
	t.Helper()
	dir := t.TempDir()
	for k, v := range registry.SecretData() {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	tp := &testProxy{}
	p, err := newProxy(ctx, config{upstream: upstream, credentialsDir: dir, namespace: "ns", name: "harbor", audience: "oci-connector.dev"},
		fakeKube(&tp.reviews, &tp.accessChecks), mp, zap.NewNop().Sugar())
	if err != nil {
		t.Fatal(err)
	}
	p.events = &tp.events
	tp.Server = httptest.NewServer(p)
	t.Cleanup(tp.Close)
	return tp
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
	req.SetBasicAuth("u", "good")
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
	req.SetBasicAuth("u", "push-only")
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
