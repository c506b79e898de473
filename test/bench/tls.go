package main

import (
	"log"
	"os"
	"path/filepath"

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
	var relayCPU, proxyCPU float64
	for i := range reps {
		log.Printf("1 GiB over TLS %d/%d: relay, proxy", i+1, reps)
		before := cpuTime(b.r, relayProc.Pid)
		viaRelay = append(viaRelay, b.timed(size, func() { b.get("http://"+relay, path, registry.Username, registry.Password, "") }))
		relayCPU += (cpuTime(b.r, relayProc.Pid) - before).Seconds()
		before = cpuTime(b.r, p.Cmd.Process.Pid)
		viaProxy = append(viaProxy, b.timed(size, func() { b.get("http://"+p.Host, path, "u", b.token, "") }))
		proxyCPU += (cpuTime(b.r, p.Cmd.Process.Pid) - before).Seconds()
	}
	gibs := float64(reps) * float64(size) / gib
	log.Printf("TLS throughput MB/s: relay %.0f, proxy %.0f", median(viaRelay)/1e6, median(viaProxy)/1e6)
	report("blob_1g_tls_vs_relay", median(viaProxy)/median(viaRelay))
	report("proxy_cpu_s_per_gib_tls", proxyCPU/gibs)
	report("relay_cpu_s_per_gib_tls", relayCPU/gibs)
}
