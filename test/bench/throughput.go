package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/oci-connector/oci-connector/test/registry"
)

// uploadBlob puts size bytes of pseudo-random data upstream, directly, and
// returns the digest.
func (b *bench) uploadBlob(size int64) string {
	return b.uploadBlobTo(b.reg, size)
}

// uploadBlobTo puts size bytes of pseudo-random data into reg, directly,
// and returns the digest.
func (b *bench) uploadBlobTo(reg *registry.Registry, size int64) string {
	log.Printf("uploading a %d MiB blob upstream", size/mib)
	seed := [32]byte{byte(size)}
	hash := sha256.New()
	if _, err := io.Copy(hash, io.LimitReader(rand.NewChaCha8(seed), size)); err != nil {
		b.r.Fatalf("hashing: %v", err)
	}
	digest := "sha256:" + hex.EncodeToString(hash.Sum(nil))
	client := b.client
	if reg.CAPEM != nil {
		client = reg.Client()
	}

	req, _ := http.NewRequest("POST", reg.URL+"/v2/"+benchRepo+"/blobs/uploads/", nil)
	req.SetBasicAuth(registry.Username, registry.Password)
	resp, err := client.Do(req)
	check(b.r, err)
	resp.Body.Close()
	loc, err := resp.Location()
	check(b.r, err)
	q := loc.Query()
	q.Set("digest", digest)
	loc.RawQuery = q.Encode()
	req, _ = http.NewRequest("PUT", loc.String(), io.LimitReader(rand.NewChaCha8(seed), size))
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	req.SetBasicAuth(registry.Username, registry.Password)
	resp, err = client.Do(req)
	check(b.r, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b.r.Fatalf("upload: %s", resp.Status)
	}
	return digest
}

// get reads a blob or manifest to the end and returns the bytes read.
func (b *bench) get(base, path, user, password, accept string) int64 {
	req, _ := http.NewRequest("GET", base+path, nil)
	req.SetBasicAuth(user, password)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := b.client.Do(req)
	check(b.r, err)
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	check(b.r, err)
	if resp.StatusCode != 200 {
		b.r.Fatalf("GET %s%s: %s", base, path, resp.Status)
	}
	return n
}

// throughput pulls the large blob directly, through the relay, through the
// TCP splice relay (the kernel's floor) and through the proxy, interleaved,
// and reports the median ratios and each one's CPU per GiB.
func (b *bench) throughput(digest string, size int64, reps int) {
	path := "/v2/" + benchRepo + "/blobs/" + digest
	var direct, relay, floor, proxy []float64
	var relayCPU, floorCPU, proxyCPU time.Duration
	for i := 0; i < reps; i++ {
		log.Printf("1 GiB transfer %d/%d: direct, relay, TCP splice relay, proxy", i+1, reps)
		direct = append(direct, b.timed(size, func() { b.get(b.reg.URL, path, registry.Username, registry.Password, "") }))
		relay = append(relay, b.timedCPU(b.relayProc.Pid, &relayCPU, size, func() {
			b.get("http://"+b.relay, path, registry.Username, registry.Password, "")
		}))
		floor = append(floor, b.timedCPU(b.floorProc.Pid, &floorCPU, size, func() {
			b.get("http://"+b.floor, path, registry.Username, registry.Password, "")
		}))
		proxy = append(proxy, b.timedCPU(b.proxy.Cmd.Process.Pid, &proxyCPU, size, func() {
			b.get("http://"+b.proxy.Host, path, "u", b.token, "")
		}))
	}
	d, rl, fl, p := median(direct), median(relay), median(floor), median(proxy)
	log.Printf("throughput MB/s: direct %.0f, relay %.0f, TCP splice relay %.0f, proxy %.0f", d/1e6, rl/1e6, fl/1e6, p/1e6)
	report("blob_1g_throughput_ratio", p/d)
	report("blob_1g_vs_plain_relay", p/rl)
	report("blob_1g_vs_tcp_splice_relay", p/fl)
	gibs := float64(reps) * float64(size) / gib
	log.Printf("CPU per GiB: proxy %.2f s, relay %.2f s, TCP splice relay %.2f s",
		proxyCPU.Seconds()/gibs, relayCPU.Seconds()/gibs, floorCPU.Seconds()/gibs)
	report("proxy_cpu_per_gib_vs_relay", proxyCPU.Seconds()/relayCPU.Seconds())
	report("proxy_cpu_per_gib_vs_tcp_splice_relay", proxyCPU.Seconds()/floorCPU.Seconds())
}

// timedCPU is timed, adding the CPU time process pid spent meanwhile to cpu.
func (b *bench) timedCPU(pid int, cpu *time.Duration, size int64, f func()) float64 {
	before := cpuTime(b.r, pid)
	rate := b.timed(size, f)
	*cpu += cpuTime(b.r, pid) - before
	return rate
}

// timed runs f and returns bytes per second.
func (b *bench) timed(size int64, f func()) float64 {
	start := time.Now()
	f()
	return float64(size) / time.Since(start).Seconds()
}
