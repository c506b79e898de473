package main

import (
	"bufio"
	"log"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/test/registry"
)

// authnCallsPerTokenPerMinute keeps one token busy for window and counts the
// TokenReviews the proxy made for it (token cache misses in its metrics).
func (b *bench) authnCallsPerTokenPerMinute(window time.Duration) {
	log.Printf("steady traffic with one token for %s", window)
	token := b.cluster.Token(b.r, namespace, "puller", v1alpha1.ConnectorAudience(namespace, connector), time.Hour)
	path := "/v2/" + registry.SeedRepository + "/manifests/" + registry.SeedTag
	b.get("http://"+b.proxy.Host, path, "u", token, manifestOK) // the one expected miss
	before := b.tokenMisses()
	for end := time.Now().Add(window); time.Now().Before(end); {
		b.get("http://"+b.proxy.Host, path, "u", token, manifestOK)
		time.Sleep(20 * time.Millisecond)
	}
	misses := b.tokenMisses() - before
	report("authn_calls_per_token_per_min", misses/window.Minutes())
}

// tokenMisses reads the proxy's token cache misses from its Prometheus endpoint.
func (b *bench) tokenMisses() float64 {
	resp, err := http.Get("http://" + b.metrics + "/metrics")
	check(b.r, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	total := 0.0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "oci_connector_proxy_auth_cache_lookups_total{") &&
			strings.Contains(line, `cache="token"`) && strings.Contains(line, `result="miss"`) {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			check(b.r, err)
			total += v
		}
	}
	return total
}
