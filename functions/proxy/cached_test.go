package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/zap"

	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/pkg/objectstore"
	"github.com/oci-connector/oci-connector/test/registry"
)

// frontedUpstream is the real test registry behind a front that the test
// can take down (connections dropped), turn against the Connector (401),
// make corrupt blobs, or slow; it counts the GETs it passes per path.
type frontedUpstream struct {
	*httptest.Server
	reg  *registry.Registry
	mode atomic.Value // "", "down", "unauthorized", "corrupt"
	// slow delays every blob GET, so that concurrent requests overlap.
	slow atomic.Int64
	mu   sync.Mutex
	gets map[string]int
}

func newFrontedUpstream(t *testing.T) *frontedUpstream {
	t.Helper()
	u := &frontedUpstream{reg: registry.NewHtpasswd(t), gets: map[string]int{}}
	u.mode.Store("")
	target, _ := url.Parse(u.reg.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch u.mode.Load().(string) {
		case "down":
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		case "unauthorized":
			w.Header().Set("WWW-Authenticate", `Basic realm="test-registry"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		isBlobGET := r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:")
		if r.Method == http.MethodGet && r.Header.Get("Authorization") != "" {
			u.mu.Lock()
			u.gets[r.URL.Path]++
			u.mu.Unlock()
		}
		if isBlobGET {
			time.Sleep(time.Duration(u.slow.Load()))
		}
		if isBlobGET && u.mode.Load() == "corrupt" {
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			if len(body) > 0 {
				body[0] ^= 0xff // same length, other bytes
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(body)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *frontedUpstream) getsOf(path string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.gets[path]
}

// newCachedProxy serves a proxy with an emptyDir cache of size bytes over
// u, and returns it with the cache's directory.
func newCachedProxy(t *testing.T, u *frontedUpstream, size string) (*testProxy, string) {
	t.Helper()
	dir := t.TempDir()
	return newTestProxyWith(t, config{upstream: u.URL, cache: cacheConfig{storage: "emptyDir", size: size, dir: dir}}, noop.NewMeterProvider()), dir
}

// pushImage pushes a random image of layers of size bytes as repo:tag to
// the real registry behind u.
func pushImage(t *testing.T, u *frontedUpstream, repo, tag string, size int64, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, layers)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(u.reg.Host+"/"+repo+":"+tag, name.Insecure)
	if err := remote.Write(ref, img, remote.WithAuth(registry.RobotAuth())); err != nil {
		t.Fatal(err)
	}
	return img
}

// pullThrough pulls repo:tag through the proxy as a client would, reading
// every layer, and fails unless every digest checks out.
func pullThrough(t *testing.T, tp *testProxy, repo, tag string) error {
	t.Helper()
	return registry.Pull(strings.TrimPrefix(tp.URL, "http://")+"/"+repo+":"+tag, &authn.Basic{Username: "u", Password: goodToken})
}

// get makes one authenticated request through the proxy and returns the
// answer with its body read.
func get(t *testing.T, tp *testProxy, method, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, tp.URL+path, nil)
	req.SetBasicAuth("u", goodToken)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// cacheResults are the cache fields of the image.pulled events sent so far.
func (tp *testProxy) cacheResults(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, e := range tp.events.take() {
		if e.Type() != events.ImagePulled {
			continue
		}
		var d events.ImageData
		if err := e.DataAs(&d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d.Cache)
	}
	return out
}

// Pulled once, an image is pulled again while the upstream is down: the
// tag's last known manifest, with a warning, and its blobs from the cache.
func TestCachedImagesArePulledWhileTheUpstreamIsDown(t *testing.T) {
	u := newFrontedUpstream(t)
	tp, _ := newCachedProxy(t, u, "64Mi")
	if err := pullThrough(t, tp, registry.SeedRepository, registry.SeedTag); err != nil {
		t.Fatalf("first pull: %v", err)
	}
	if got := tp.cacheResults(t); fmt.Sprint(got) != "[miss]" {
		t.Errorf("first pull's events say cache %v, want [miss]", got)
	}
	if err := pullThrough(t, tp, registry.SeedRepository, registry.SeedTag); err != nil {
		t.Fatalf("second pull: %v", err)
	}
	if got := tp.cacheResults(t); fmt.Sprint(got) != "[hit]" {
		t.Errorf("second pull's events say cache %v, want [hit]", got)
	}

	u.mode.Store("down")
	resp, _ := get(t, tp, http.MethodGet, "/v2/"+registry.SeedRepository+"/manifests/"+registry.SeedTag)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Warning"), "299 ") || resp.Header.Get("Docker-Content-Digest") != u.reg.SeedDigest {
		t.Fatalf("by tag with the upstream down: status %d, Warning %q, digest %q", resp.StatusCode, resp.Header.Get("Warning"), resp.Header.Get("Docker-Content-Digest"))
	}
	if resp, _ := get(t, tp, http.MethodHead, "/v2/"+registry.SeedRepository+"/manifests/"+registry.SeedTag); resp.StatusCode != 200 || resp.Header.Get("Docker-Content-Digest") != u.reg.SeedDigest {
		t.Fatalf("HEAD by tag with the upstream down: status %d, digest %q", resp.StatusCode, resp.Header.Get("Docker-Content-Digest"))
	}
	if err := pullThrough(t, tp, registry.SeedRepository, registry.SeedTag); err != nil {
		t.Fatalf("pull with the upstream down: %v", err)
	}
	if got := tp.cacheResults(t); fmt.Sprint(got) != "[stale stale]" {
		t.Errorf("pulls with the upstream down say cache %v, want [stale stale]", got)
	}
	// Something never pulled fails clearly.
	if resp, body := get(t, tp, http.MethodGet, "/v2/"+registry.SeedRepository+"/manifests/other"); resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "unreachable") {
		t.Errorf("an uncached tag with the upstream down: %d %s", resp.StatusCode, body)
	}
}

// A blob reached the cache through one repository; asked for through
// another, it goes upstream, which decides (here: that repository does not
// have it).
func TestABlobIsNotReadFromTheCacheThroughAnotherRepository(t *testing.T) {
	u := newFrontedUpstream(t)
	tp, _ := newCachedProxy(t, u, "64Mi")
	img := pushImage(t, u, "team-a/app", "v1", 4096, 1)
	pushImage(t, u, "team-b/app", "v1", 1024, 1)
	if err := pullThrough(t, tp, "team-a/app", "v1"); err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	layer, _ := layers[0].Digest()
	path := "/v2/team-b/app/blobs/" + layer.String()
	resp, _ := get(t, tp, http.MethodGet, path)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("team-a's blob through team-b: %d, want the upstream's 404", resp.StatusCode)
	}
	if n := u.getsOf(path); n != 1 {
		t.Errorf("the upstream was asked %d times for team-b's read, want 1", n)
	}
	// And the blob is still served to team-a from the cache.
	before := u.getsOf("/v2/team-a/app/blobs/" + layer.String())
	if resp, _ := get(t, tp, http.MethodGet, "/v2/team-a/app/blobs/"+layer.String()); resp.StatusCode != 200 {
		t.Fatalf("team-a's own blob: %d", resp.StatusCode)
	}
	if after := u.getsOf("/v2/team-a/app/blobs/" + layer.String()); after != before {
		t.Errorf("team-a's cached blob went upstream again")
	}
}

// A tag the upstream deleted is not served from the cache, neither while
// the upstream says 404 nor when it is down afterwards.
func TestADeletedTagIsNotServed(t *testing.T) {
	u := newFrontedUpstream(t)
	tp, _ := newCachedProxy(t, u, "64Mi")
	img := pushImage(t, u, "team-a/app", "gone", 1024, 1)
	if err := pullThrough(t, tp, "team-a/app", "gone"); err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Digest()
	req, _ := http.NewRequest(http.MethodDelete, u.reg.URL+"/v2/team-a/app/manifests/"+digest.String(), nil)
	req.SetBasicAuth(registry.Username, registry.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("deleting upstream: %v %v", err, resp)
	}
	if resp, _ := get(t, tp, http.MethodGet, "/v2/team-a/app/manifests/gone"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a deleted tag: %d, want 404", resp.StatusCode)
	}
	u.mode.Store("down")
	if resp, _ := get(t, tp, http.MethodGet, "/v2/team-a/app/manifests/gone"); resp.StatusCode == 200 {
		t.Fatalf("a deleted tag was served stale once the upstream went down")
	}
}

// When the upstream refuses the Connector (401), nothing of that
// repository is served from the cache, then or once the upstream is down.
func TestAnUpstreamRefusalIsNotServedStale(t *testing.T) {
	u := newFrontedUpstream(t)
	tp, _ := newCachedProxy(t, u, "64Mi")
	if err := pullThrough(t, tp, registry.SeedRepository, registry.SeedTag); err != nil {
		t.Fatal(err)
	}
	u.mode.Store("unauthorized")
	tp.proxy.upstream.forget() // the next request authenticates again, and is refused
	if resp, _ := get(t, tp, http.MethodGet, "/v2/"+registry.SeedRepository+"/manifests/"+registry.SeedTag); resp.StatusCode == 200 {
		t.Fatalf("a tag the upstream refused was served: %d", resp.StatusCode)
	}
	u.mode.Store("down")
	if resp, _ := get(t, tp, http.MethodGet, "/v2/"+registry.SeedRepository+"/manifests/"+registry.SeedTag); resp.StatusCode == 200 {
		t.Fatalf("after a refusal, the tag was served stale")
	}
	if resp, _ := get(t, tp, http.MethodGet, "/v2/"+registry.SeedRepository+"/manifests/"+u.reg.SeedDigest); resp.StatusCode == 200 {
		t.Fatalf("after a refusal, the manifest was served from the cache by digest")
	}
}

// Bytes that do not match their digest reach the client as the upstream
// sent them (which refuses them), but never the cache.
func TestACorruptUpstreamBlobIsNeverStored(t *testing.T) {
	u := newFrontedUpstream(t)
	tp, dir := newCachedProxy(t, u, "64Mi")
	img := pushImage(t, u, "team-a/app", "v1", 4096, 1)
	layers, _ := img.Layers()
	layer, _ := layers[0].Digest()
	path := "/v2/team-a/app/blobs/" + layer.String()
	if _, err := remote.Image(mustRef(t, tp, "team-a/app:v1"), remote.WithAuth(&authn.Basic{Username: "u", Password: goodToken})); err != nil {
		t.Fatal(err) // the manifest is now linked: its layer may be cached
	}
	u.mode.Store("corrupt")
	for i := 1; i <= 2; i++ {
		resp, body := get(t, tp, http.MethodGet, path)
		if resp.StatusCode != 200 || blobDigest(body) == layer.String() {
			t.Fatalf("read %d: status %d, digest %s: the corrupt bytes should have passed through", i, resp.StatusCode, blobDigest(body))
		}
		if n := u.getsOf(path); n != i {
			t.Fatalf("after read %d the upstream served the blob %d times: a corrupt blob was served from the cache", i, n)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "blobs", "sha256", layer.Hex)); !os.IsNotExist(err) {
		t.Errorf("the corrupt blob is in the cache: %v", err)
	}
	u.mode.Store("")
	if resp, body := get(t, tp, http.MethodGet, path); resp.StatusCode != 200 || blobDigest(body) != layer.String() {
		t.Fatalf("the good blob: %d %s", resp.StatusCode, blobDigest(body))
	}
}

// Fifty clients missing one blob at once make one upstream GET, and each
// gets all of it.
func TestConcurrentColdPullsMakeOneUpstreamGET(t *testing.T) {
	u := newFrontedUpstream(t)
	tp, _ := newCachedProxy(t, u, "64Mi")
	img := pushImage(t, u, "team-a/app", "v1", 1<<20, 1)
	if _, err := remote.Image(mustRef(t, tp, "team-a/app:v1"), remote.WithAuth(&authn.Basic{Username: "u", Password: goodToken})); err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	layer, _ := layers[0].Digest()
	path := "/v2/team-a/app/blobs/" + layer.String()
	u.slow.Store(int64(300 * time.Millisecond))
	var wg sync.WaitGroup
	errs := make(chan string, 50)
	for range 50 {
		wg.Go(func() {
			resp, body := get(t, tp, http.MethodGet, path)
			if resp.StatusCode != 200 || blobDigest(body) != layer.String() {
				errs <- fmt.Sprintf("status %d digest %s", resp.StatusCode, blobDigest(body))
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := u.getsOf(path); n != 1 {
		t.Errorf("50 concurrent cold pulls made %d upstream GETs, want 1", n)
	}
}

// Content being read is never evicted; once read, it is, when new content
// needs the room.
func TestEvictionNeverBreaksARead(t *testing.T) {
	u := newFrontedUpstream(t)
	// Room for one of the two 32 MiB layers, not both. They are larger
	// than what the loopback's socket buffers take, so that the server is
	// still reading layer A while the client waits.
	tp, dir := newCachedProxy(t, u, "48Mi")
	imgA := pushImage(t, u, "team-a/app", "v1", 32<<20, 1)
	imgB := pushImage(t, u, "team-a/app", "v2", 32<<20, 1)
	if err := pullThrough(t, tp, "team-a/app", "v1"); err != nil {
		t.Fatal(err)
	}
	layersA, _ := imgA.Layers()
	layerA, _ := layersA[0].Digest()
	pathA := "/v2/team-a/app/blobs/" + layerA.String()
	if resp, _ := get(t, tp, http.MethodGet, pathA); resp.StatusCode != 200 || u.getsOf(pathA) != 1 {
		t.Fatalf("layer A is not cached: status %d, upstream GETs %d", resp.StatusCode, u.getsOf(pathA))
	}

	// A slow reader holds layer A open from the cache...
	req, _ := http.NewRequest(http.MethodGet, tp.URL+pathA, nil)
	req.SetBasicAuth("u", goodToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	head := make([]byte, 4096)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatal(err)
	}
	// ...while layer B needs the room: it passes through uncached.
	if err := pullThrough(t, tp, "team-a/app", "v2"); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(resp.Body)
	if err != nil || blobDigest(append(head, rest...)) != layerA.String() {
		t.Fatalf("the read in progress broke: %v, digest %s", err, blobDigest(append(head, rest...)))
	}
	layersB, _ := imgB.Layers()
	layerB, _ := layersB[0].Digest()
	if _, err := os.Stat(filepath.Join(dir, "blobs", "sha256", layerB.Hex)); !os.IsNotExist(err) {
		t.Errorf("layer B was cached while A was being read: the bound was broken")
	}
	// With nobody reading A, B takes its place.
	if err := pullThrough(t, tp, "team-a/app", "v2"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "blobs", "sha256", layerB.Hex)); err != nil {
		t.Errorf("layer B was not cached once A was free: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "blobs", "sha256", layerA.Hex)); !os.IsNotExist(err) {
		t.Errorf("layer A was not evicted for B")
	}
}

// Ranges of a cached blob are served from the cache.
func TestRangesOfACachedBlob(t *testing.T) {
	u := newFrontedUpstream(t)
	tp, _ := newCachedProxy(t, u, "64Mi")
	img := pushImage(t, u, "team-a/app", "v1", 8192, 1)
	if err := pullThrough(t, tp, "team-a/app", "v1"); err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	layer, _ := layers[0].Digest()
	rc, _ := layers[0].Compressed()
	whole, _ := io.ReadAll(rc)
	resp, body := get(t, tp, http.MethodGet, "/v2/team-a/app/blobs/"+layer.String(), "Range", "bytes=100-199")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, whole[100:200]) {
		t.Fatalf("range: status %d, %d bytes", resp.StatusCode, len(body))
	}
	if n := u.getsOf("/v2/team-a/app/blobs/" + layer.String()); n != 1 {
		t.Errorf("the range went upstream (%d GETs)", n)
	}
}

// The cache's records are readable JSON a person can check.
func TestTheTagRecordNamesTheDigest(t *testing.T) {
	u := newFrontedUpstream(t)
	tp, dir := newCachedProxy(t, u, "64Mi")
	if err := pullThrough(t, tp, registry.SeedRepository, registry.SeedTag); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "repositories", registry.SeedRepository, "_tags", registry.SeedTag))
	if err != nil {
		t.Fatal(err)
	}
	var d struct{ Digest string }
	if json.Unmarshal(b, &d) != nil || d.Digest != u.reg.SeedDigest {
		t.Errorf("tag record %s, want digest %s", b, u.reg.SeedDigest)
	}
}

func mustRef(t *testing.T, tp *testProxy, image string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(strings.TrimPrefix(tp.URL, "http://")+"/"+image, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func blobDigest(b []byte) string {
	h, _, _ := v1.SHA256(bytes.NewReader(b))
	return h.String()
}

// A cache that cannot open (here: its Secret has no keys) leaves the proxy
// serving from the upstream; a cache setting that makes no sense stops it.
func TestACacheThatCannotOpenLeavesTheProxyServing(t *testing.T) {
	u := newFrontedUpstream(t)
	tp := newTestProxyWith(t, config{upstream: u.URL, cache: cacheConfig{storage: "s3", s3CredentialsDir: t.TempDir(),
		s3: objectstore.Config{Endpoint: "http://127.0.0.1:1", Bucket: "cache"}}}, noop.NewMeterProvider())
	if tp.proxy.cache != nil {
		t.Fatal("the proxy has a cache it could not open")
	}
	if err := pullThrough(t, tp, registry.SeedRepository, registry.SeedTag); err != nil {
		t.Fatalf("pull without the cache: %v", err)
	}
	_, err := newProxy(context.Background(), config{upstream: u.URL, credentialsDir: mountedSecret(t), namespace: "ns", name: "harbor",
		cache: cacheConfig{storage: "hostPath"}}, testSigner.Keys(), nil, nil, noop.NewMeterProvider(), zap.NewNop().Sugar())
	if err == nil || !strings.Contains(err.Error(), "emptyDir or s3") {
		t.Errorf("an unknown cache storage: %v", err)
	}
}

// containerd's flow: HEAD by tag, GET by digest, then blobs; the same
// again with the upstream down.
func TestContainerdsFlowIsServedWhileTheUpstreamIsDown(t *testing.T) {
	u := newFrontedUpstream(t)
	tp, _ := newCachedProxy(t, u, "64Mi")
	path := "/v2/" + registry.SeedRepository + "/manifests/"
	flow := func() {
		t.Helper()
		resp, _ := get(t, tp, http.MethodHead, path+registry.SeedTag)
		digest := resp.Header.Get("Docker-Content-Digest")
		if resp.StatusCode != 200 || digest != u.reg.SeedDigest {
			t.Fatalf("HEAD by tag: %d %q", resp.StatusCode, digest)
		}
		if resp, _ := get(t, tp, http.MethodGet, path+digest); resp.StatusCode != 200 {
			t.Fatalf("GET by digest: %d", resp.StatusCode)
		}
	}
	flow()
	u.mode.Store("down")
	flow()
}
