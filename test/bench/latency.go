package main

import (
	"log"
	"net/http"
	"slices"
	"time"

	"github.com/oci-connector/oci-connector/test/proxyproc"
	"github.com/oci-connector/oci-connector/test/registry"
)

// startupToReady starts the proxy and times it from exec to its first answer.
func (b *bench) startupToReady() {
	b.proxy = proxyproc.Start(b.r, proxyproc.Options{
		Upstream:   b.reg.URL,
		Namespace:  namespace,
		Name:       connector,
		Kubeconfig: b.cluster.KubeconfigAs(b.r, namespace, "proxy"),
		Secret:     registry.SecretData(),
		Args:       []string{"--metrics-protocol", "prometheus", "--metrics-endpoint", b.metrics, "--profiling-address", b.profiling},
	})
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		resp, err := http.Get("http://" + b.proxy.Host + "/v2/")
		if err == nil {
			resp.Body.Close()
			took := time.Since(b.proxy.Started)
			relay := b.relayStartup()
			log.Printf("the proxy answered %.1f ms after exec; the reference relay accepted after %.1f ms",
				float64(took.Microseconds())/1000, float64(relay.Microseconds())/1000)
			report("startup_to_ready_vs_relay", took.Seconds()/relay.Seconds())
			return
		}
		time.Sleep(time.Millisecond)
	}
	b.r.Fatalf("the proxy did not answer within 10s")
}

// manifestLatency compares manifest GETs direct and through the proxy with
// warm caches (the first tenth is discarded).
func (b *bench) manifestLatency(n int) {
	path := "/v2/" + registry.SeedRepository + "/manifests/" + registry.SeedTag
	sample := func(base, user, password string) []float64 {
		var out []float64
		for i := 0; i < n; i++ {
			start := time.Now()
			b.get(base, path, user, password, manifestOK)
			if i >= n/10 {
				out = append(out, float64(time.Since(start).Microseconds())/1000)
			}
		}
		slices.Sort(out)
		return out
	}
	direct := sample(b.reg.URL, registry.Username, registry.Password)
	proxy := sample("http://"+b.proxy.Host, "u", b.token)
	log.Printf("manifest GET p50 %.2f ms through the proxy, %.2f ms direct; p99 %.2f ms, %.2f ms",
		percentile(proxy, 50), percentile(direct, 50), percentile(proxy, 99), percentile(direct, 99))
	report("manifest_latency_p50_vs_direct", percentile(proxy, 50)/percentile(direct, 50))
	report("manifest_latency_p99_vs_direct", percentile(proxy, 99)/percentile(direct, 99))
}
