package main

import (
	"log"

	"github.com/oci-connector/oci-connector/test/proxyproc"
	"github.com/oci-connector/oci-connector/test/registry"
)

// redirectPass pulls a large blob from an upstream that redirects blob GETs
// to storage, as S3-backed registries do: directly (the client follows the
// registry's redirect to storage) and through a proxy with blobRedirects:
// pass (the proxy hands the client that redirect). It reports the median of
// the paired ratios: the proxy's cost is one more round trip, no byte of the
// blob. Each transfer takes about half a second on loopback, where
// run-to-run drift is as large as that cost, so it takes 2*reps+1 pairs,
// and each pair runs in the other order from the last, so that neither
// side always goes first.
func (b *bench) redirectPass(size int64, reps int) {
	reps = 2*reps + 1
	reg := registry.NewHtpasswd(b.r, registry.WithFilesystem(b.r.TempDir()), registry.WithRedirectingStorage())
	digest := b.uploadBlobTo(reg, size)
	p := proxyproc.Start(b.r, proxyproc.Options{
		Upstream: reg.URL, Namespace: namespace, Name: connector,
		Kubeconfig: b.cluster.KubeconfigAs(b.r, namespace, "proxy"),
		Secret:     registry.SecretData(), Args: []string{"--blob-redirects", "pass"},
	})
	path := "/v2/" + benchRepo + "/blobs/" + digest
	viaDirect := func() float64 {
		return b.timed(size, func() { b.get(reg.URL, path, registry.Username, registry.Password, "") })
	}
	viaProxy := func() float64 { return b.timed(size, func() { b.get("http://"+p.Host, path, "u", b.token, "") }) }
	var direct, pass, ratios []float64
	for i := range reps {
		log.Printf("redirected blob %d/%d: direct and through the proxy passing the redirect", i+1, reps)
		var d, q float64
		if i%2 == 0 {
			d, q = viaDirect(), viaProxy()
		} else {
			q, d = viaProxy(), viaDirect()
		}
		direct, pass, ratios = append(direct, d), append(pass, q), append(ratios, q/d)
	}
	log.Printf("redirected blob MB/s: direct %.0f, proxy passing %.0f", median(direct)/1e6, median(pass)/1e6)
	report("blob_1g_redirect_pass_vs_direct", median(ratios))
}
