package main

import (
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/proxyproc"
	"github.com/oci-connector/oci-connector/test/registry"
)

// The cache's figures: warm pulls from a far upstream, a 1 GiB hit beside
// a direct read, concurrent cold misses, and pulls during an outage. Each
// runs its own proxy with an emptyDir cache in a directory of its own.
func (b *bench) cache(bigDigest string, bigSize int64) {
	b.cacheHitThroughput(bigDigest, bigSize, 3)
	b.cacheWarmPullsFromFar(200*mib, 5)
	b.cacheColdConcurrentMisses(50, 16*mib)
	b.cacheOutage(60 * time.Second)
}

// startCachingProxy runs a proxy for upstream with an emptyDir cache of
// size.
func (b *bench) startCachingProxy(upstream, size string) *proxyproc.Proc {
	return proxyproc.Start(b.r, proxyproc.Options{
		Upstream: upstream, Namespace: namespace, Name: connector,
		Kubeconfig: b.cluster.KubeconfigAs(b.r, namespace, "proxy"), Secret: registry.SecretData(),
		Args: []string{"--cache-storage", "emptyDir", "--cache-size", size, "--cache-dir", b.r.TempDir()},
	})
}

// cacheHitThroughput reads the large blob from a warm cache (a file on
// local disk, sent with sendfile) and directly from the loopback upstream,
// interleaved.
func (b *bench) cacheHitThroughput(digest string, size int64, reps int) {
	p := b.startCachingProxy(b.reg.URL, "4Gi")
	path := "/v2/" + benchRepo + "/blobs/" + digest
	b.get("http://"+p.Host, path, "u", b.token, "") // the miss that fills the cache
	var direct, hit []float64
	for i := 0; i < reps; i++ {
		log.Printf("1 GiB cache hit %d/%d: direct, from the cache", i+1, reps)
		direct = append(direct, b.timed(size, func() { b.get(b.reg.URL, path, registry.Username, registry.Password, "") }))
		hit = append(hit, b.timed(size, func() { b.get("http://"+p.Host, path, "u", b.token, "") }))
	}
	for _, r := range p.Requests(b.r)[1:] {
		if r.Path == path && r.Cache != "hit" {
			b.r.Fatalf("a timed read through the caching proxy was not a hit: %+v", r)
		}
	}
	log.Printf("1 GiB MB/s: direct %.0f, cache hit %.0f", median(direct)/1e6, median(hit)/1e6)
	report("blob_1g_cache_hit_vs_direct", median(hit)/median(direct))
}

// farGate is an upstream far away: 20 ms each way and 200 Mbit/s.
var farGate = harness.GateOptions{Delay: 20 * time.Millisecond, BytesPerSecond: 200e6 / 8}

// cacheWarmPullsFromFar pulls an image of size bytes from an upstream far
// away: directly, and warm through the cache (each pull still asks the
// upstream what the tag is), medians of runs.
func (b *bench) cacheWarmPullsFromFar(size int64, runs int) {
	const repo, tag = "bench/far", "v1"
	img, err := random.Image(size/4, 4)
	check(b.r, err)
	ref, err := name.ParseReference(b.reg.Host+"/"+repo+":"+tag, name.Insecure)
	check(b.r, err)
	check(b.r, remote.Write(ref, img, remote.WithAuth(registry.RobotAuth())))
	gate := harness.StartGate(b.r, b.reg.Host, farGate)
	p := b.startCachingProxy("http://"+gate.Addr, "1Gi")
	pull := func(host string, auth authn.Authenticator) float64 {
		start := time.Now()
		check(b.r, registry.Pull(host+"/"+repo+":"+tag, auth))
		return time.Since(start).Seconds()
	}
	proxyAuth := &authn.Basic{Username: "u", Password: b.token}
	log.Printf("a %d MiB image from an upstream 20 ms away at 200 Mbit/s: one cold pull through the cache", size/mib)
	cold := pull(p.Host, proxyAuth)
	var direct, warm []float64
	for i := 0; i < runs; i++ {
		direct = append(direct, pull(gate.Addr, registry.RobotAuth()))
		warm = append(warm, pull(p.Host, proxyAuth))
	}
	log.Printf("pull seconds: cold through the cache %.2f, direct %v, warm through the cache %v", cold, direct, warm)
	report("cache_warm_pull_vs_direct", median(direct)/median(warm))
}

// cacheColdConcurrentMisses has clients ask for one uncached blob at once,
// and counts the GETs the upstream saw for it.
func (b *bench) cacheColdConcurrentMisses(clients int, size int64) {
	digest := b.uploadBlob(size)
	path := "/v2/" + benchRepo + "/blobs/" + digest
	var gets atomic.Int64
	target, _ := url.Parse(b.reg.URL)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == path {
			gets.Add(1)
		}
		httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, r)
	}))
	b.r.Cleanup(front.Close)
	p := b.startCachingProxy(front.URL, "1Gi")
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range clients {
		wg.Go(func() {
			<-start
			if n := b.get("http://"+p.Host, path, "u", b.token, ""); n != size {
				b.r.Fatalf("a concurrent cold pull read %d of %d bytes", n, size)
			}
		})
	}
	close(start)
	wg.Wait()
	log.Printf("%d concurrent cold pulls of a %d MiB blob: %d upstream GETs", clients, size/mib, gets.Load())
	report("cache_cold_concurrent_upstream_gets", float64(gets.Load()))
}

// cacheOutage pulls a cached image steadily while the upstream is away for
// outage, and reports the share of those pulls that succeeded.
func (b *bench) cacheOutage(outage time.Duration) {
	gate := harness.StartGate(b.r, b.reg.Host, harness.GateOptions{})
	p := b.startCachingProxy("http://"+gate.Addr, "1Gi")
	image := p.Host + "/" + registry.SeedRepository + ":" + registry.SeedTag
	auth := &authn.Basic{Username: "u", Password: b.token}
	check(b.r, registry.Pull(image, auth)) // cached from here on
	gate.Down()
	log.Printf("the upstream away for %s: steady pulls of a cached image", outage)
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := harness.Repeat(4, 0, func() {
		if err := registry.Pull(image, auth); err != nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
			return
		}
		ok.Add(1)
	})
	time.Sleep(outage)
	stop()
	gate.Up(b.r)
	if e := firstErr.Load(); e != nil {
		log.Printf("first failure: %s", e)
	}
	stale := 0
	for _, r := range p.Requests(b.r) {
		if r.Cache == "stale" && strings.Contains(r.Path, "/manifests/") {
			stale++
		}
	}
	log.Printf("%d pulls during the outage, %d failed; %d stale tag answers in the access log (which zap samples)", ok.Load()+failed.Load(), failed.Load(), stale)
	if stale == 0 {
		b.r.Fatalf("no stale answer during the outage: the pulls did not depend on the cache")
	}
	report("outage_cached_pulls_ok_ratio", float64(ok.Load())/float64(ok.Load()+failed.Load()))
}
