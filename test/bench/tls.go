package main

import (
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/oci-connector/oci-connector/test/proxyproc"
	"github.com/oci-connector/oci-connector/test/registry"
)

// tlsThroughput pulls a large blob from an upstream served over TLS, as
// production upstreams are: through the reference relay and through the
// proxy, interleaved. It reports the proxy's throughput against
// the relay's and both one's CPU per GiB: over TLS the proxy copies (there is
// no socket to splice from), so its cost should be the relay's.
func (b *bench) tlsThroughput(size int64, reps int) {
	reg := registry.NewHtpasswd(b.r, registry.WithFilesystem(b.r.TempDir()), registry.WithTLS())
	digest := b.uploadBlobTo(reg, size)
	caFile := filepath.Join(b.r.TempDir(), "ca.crt")
	check(b.r, os.WriteFile(caFile, reg.CAPEM, 0o600))
	relay, relayProc := b.startRelayTo(reg.URL, caFile)
	secret := registry.SecretData()
	secret["ca.crt"] = string(reg.CAPEM)
	p := proxyproc.Start(b.r, proxyproc.Options{
		Upstream: reg.URL, Namespace: namespace, Name: connector,
		Kubeconfig: b.cluster.KubeconfigAs(b.r, namespace, "proxy"), Secret: secret,
	})
	path := "/v2/" + benchRepo + "/blobs/" + digest
	var viaRelay, viaProxy []float64
	var relayCPU, proxyCPU time.Duration
	for i := range reps {
		log.Printf("1 GiB over TLS %d/%d: relay, proxy", i+1, reps)
		viaRelay = append(viaRelay, b.timedCPU(relayProc.Pid, &relayCPU, size, func() {
			b.get("http://"+relay, path, registry.Username, registry.Password, "")
		}))
		viaProxy = append(viaProxy, b.timedCPU(p.Cmd.Process.Pid, &proxyCPU, size, func() {
			b.get("http://"+p.Host, path, "u", b.token, "")
		}))
	}
	gibs := float64(reps) * float64(size) / gib
	log.Printf("TLS throughput MB/s: relay %.0f, proxy %.0f", median(viaRelay)/1e6, median(viaProxy)/1e6)
	report("blob_1g_tls_vs_relay", median(viaProxy)/median(viaRelay))
	log.Printf("CPU per GiB over TLS: proxy %.2f s, relay %.2f s", proxyCPU.Seconds()/gibs, relayCPU.Seconds()/gibs)
	report("proxy_cpu_per_gib_vs_relay_tls", proxyCPU.Seconds()/relayCPU.Seconds())
}
