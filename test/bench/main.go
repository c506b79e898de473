// Command bench is `make bench`: it runs the upstream registry, a plain
// reference relay and the proxy side by side on 127.0.0.1 and prints one
// figure per line as `BENCH <name> <value>`. The reference relay is
// httputil.ReverseProxy with 1 MiB buffers and no auth: the cost of any HTTP
// proxy at all. Every loop is bounded in count and time.
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oci-connector/oci-connector/pkg/apis/config"
	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/test/controlplane"
	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/kube"
	"github.com/oci-connector/oci-connector/test/proxyproc"
	"github.com/oci-connector/oci-connector/test/registry"
)

const (
	gib        = 1 << 30
	mib        = 1 << 20
	namespace  = "bench"
	connector  = "harbor"
	benchRepo  = "bench/blobs"
	manifestOK = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
)

func main() {
	if len(os.Args) == 6 && os.Args[1] == "forger" {
		clients, err := strconv.Atoi(os.Args[5])
		if err != nil {
			log.Fatal(err)
		}
		runForger(os.Args[2], os.Args[3], os.Args[4], clients)
		return
	}
	if len(os.Args) == 4 && os.Args[1] == "splice-relay" {
		runSpliceRelay(os.Args[2], os.Args[3])
		return
	}
	if (len(os.Args) == 4 || len(os.Args) == 5) && os.Args[1] == "relay" {
		caFile := ""
		if len(os.Args) == 5 {
			caFile = os.Args[4]
		}
		runRelay(os.Args[2], os.Args[3], caFile)
		return
	}
	blobSize := flag.Int64("blob-mib", 1024, "size of the large blob in MiB")
	reps := flag.Int("reps", 3, "transfers of the large blob per path")
	concurrent := flag.Int("concurrent", 200, "concurrent pulls for the memory figure")
	concurrentMiB := flag.Int64("concurrent-mib", 100, "blob size in MiB for the memory figure")
	authnWindow := flag.Duration("authn-window", 120*time.Second, "steady-state window for counting TokenReviews; the token cache lives a minute, so shorter windows round to 0 or 1")
	admissions := flag.Int("admissions", 2000, "AdmissionReviews sent to the pod webhook")
	only := flag.String("only", "", "run one part: admission, events, pullsecrets, flood, csi, podstart, throughput, memory, tls, redirects, reliability")
	flag.Parse()
	log.SetFlags(log.Ltime)

	r := &harness.Runner{}
	defer r.Close()
	b := setUp(r)
	switch *only {
	case "admission":
		b.admissionLatency(*admissions)
		return
	case "events":
		b.events()
		return
	case "pullsecrets":
		b.pullSecretLatency(20)
		return
	case "flood":
		b.unauthFlood(50, 20*time.Second)
		b.forgedFlood(50, 20)
		return
	case "csi":
		b.csiPublishLatency(200)
		return
	case "reliability":
		b.startupToReady()
		b.reliability()
		return
	case "memory":
		b.startupToReady()
		b.memoryUnderConcurrency(b.uploadBlob(*concurrentMiB*mib), *concurrent)
		b.concurrentPulls(1000, 10*mib)
		return
	case "throughput":
		b.startupToReady()
		b.throughput(b.uploadBlob(*blobSize*mib), *blobSize*mib, *reps)
		return
	case "tls":
		b.startupToReady()
		b.tlsThroughput(*blobSize*mib, *reps)
		return
	case "redirects":
		b.startupToReady()
		b.redirectPass(*blobSize*mib, *reps)
		return
	case "podstart":
		b.podStartThroughProxy(5)
		return
	}

	b.startupToReady()
	big := b.uploadBlob(*blobSize * mib)
	b.throughput(big, *blobSize*mib, *reps)
	b.redirectPass(*blobSize*mib, *reps)
	b.tlsThroughput(*blobSize*mib, *reps)
	b.manifestLatency(1000)
	b.memoryUnderConcurrency(b.uploadBlob(*concurrentMiB*mib), *concurrent)
	b.authnCallsPerTokenPerMinute(*authnWindow)
	b.admissionLatency(*admissions)
	b.events()
	b.unauthFlood(50, 20*time.Second)
	b.forgedFlood(50, 20)
	b.reliability()
	b.csiPublishLatency(200)
	b.podStartThroughProxy(5)
}

// reliability runs the figures of load real clusters see: many concurrent
// pulls, password rotations and an upstream outage under steady pulls.
func (b *bench) reliability() {
	b.concurrentPulls(1000, 10*mib)
	b.rotationUnderLoad(5, 60*time.Second)
	b.upstreamOutage(10 * time.Second)
}

// events runs the event figures: the audit function's throughput, then pulls
// with and without events.
func (b *bench) events() {
	audit := b.auditThroughput(20000, 32)
	b.pullWithEvents(audit, 10, 200)
	b.pullSecretLatency(20)
}

// bench holds the parts under measurement.
type bench struct {
	r       *harness.Runner
	cluster *kube.Cluster
	reg     *registry.Registry
	proxy   *proxyproc.Proc
	relay   string // host:port
	// relayProc is the reference relay's process, for its CPU time.
	relayProc *os.Process
	// floor is the TCP splice relay (floor.go): host:port and process.
	floor     string
	floorProc *os.Process
	metrics   string // host:port of the proxy's Prometheus endpoint
	// profiling is host:port of the proxy's Go profiles.
	profiling string
	token     string
	client    *http.Client
	webhook   *controlplane.Webhook // once the control plane runs
	// tokenrefresh is started from zero by the controller's events.
	tokenrefresh scaleFromZero
}

func setUp(r *harness.Runner) *bench {
	log.Print("starting kube-apiserver and etcd")
	cluster := kube.Start(r)
	cluster.ApplyConfig(r, "100-namespace.yaml", "200-clusterrole.yaml", "200-clusterrole-proxy-access.yaml",
		"200-clusterrole-audit.yaml", "400-webhook-service.yaml")
	cluster.BindClusterRole(r, namespace, "proxy", "oci-connector-proxy", "")
	cluster.BindClusterRole(r, namespace, "puller", "oci-connector-puller", namespace)
	// The bench's Connectors serve other namespaces (pull secrets): theirs
	// is a cluster Connectors' namespace, set before the webhooks start.
	_, err := cluster.Client.CoreV1().ConfigMaps(connectorapi.SystemNamespace).Create(context.Background(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: config.ConfigName},
		Data:       map[string]string{config.ClusterConnectorNamespacesKey: namespace},
	}, metav1.CreateOptions{})
	check(r, err)

	log.Print("starting the upstream registry (distribution, filesystem storage)")
	reg := registry.NewHtpasswd(r, registry.WithFilesystem(r.TempDir()))

	b := &bench{r: r, cluster: cluster, reg: reg, metrics: freeAddr(r), profiling: freeAddr(r), tokenrefresh: scaleFromZero{r: r}}
	b.token = cluster.Token(r, namespace, "puller", v1alpha1.ConnectorAudience(namespace, connector), time.Hour)
	b.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512, DisableCompression: true}}
	b.relay, b.relayProc = b.startRelayTo(reg.URL, "")
	b.floor, b.floorProc = b.startHelper("splice-relay", strings.TrimPrefix(reg.URL, "http://"))
	return b
}

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
			report("startup_to_ready_ms", float64(time.Since(b.proxy.Started).Microseconds())/1000)
			return
		}
		time.Sleep(time.Millisecond)
	}
	b.r.Fatalf("the proxy did not answer within 10s")
}

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
	report("proxy_cpu_s_per_gib", proxyCPU.Seconds()/gibs)
	report("relay_cpu_s_per_gib", relayCPU.Seconds()/gibs)
	report("tcp_splice_relay_cpu_s_per_gib", floorCPU.Seconds()/gibs)
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
	report("manifest_added_latency_p50_ms", percentile(proxy, 50)-percentile(direct, 50))
	report("manifest_added_latency_p99_ms", percentile(proxy, 99)-percentile(direct, 99))
}

// memoryUnderConcurrency pulls one blob concurrently through the proxy and
// reports the proxy's peak resident memory.
func (b *bench) memoryUnderConcurrency(digest string, concurrent int) {
	log.Printf("%d concurrent pulls through the proxy", concurrent)
	path := "/v2/" + benchRepo + "/blobs/" + digest
	peak := watchPeakRSS(b.proxy.Cmd.Process.Pid)
	var wg sync.WaitGroup
	for i := 0; i < concurrent; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.get("http://"+b.proxy.Host, path, "u", b.token, "")
		}()
	}
	wg.Wait()
	report("rss_mib_200x100mib", float64(peak())/mib)
}

// watchPeakRSS samples a process's resident memory every 10ms until the
// returned function is called; that function returns the peak.
func watchPeakRSS(pid int) func() int64 {
	var peak atomic.Int64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if rss := rssBytes(pid); rss > peak.Load() {
				peak.Store(rss)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		<-stopped
		return peak.Load()
	}
}

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

// startRelayTo runs the reference relay in front of upstream, trusting the
// CA in caFile when set, and returns its address and process.
func (b *bench) startRelayTo(upstream, caFile string) (string, *os.Process) {
	if caFile != "" {
		return b.startHelper("relay", upstream, caFile)
	}
	return b.startHelper("relay", upstream)
}

// startHelper runs this binary as `bench <mode> <addr> args...` in its own
// process and returns the address it listens on and the process.
func (b *bench) startHelper(mode string, args ...string) (string, *os.Process) {
	self, err := os.Executable()
	check(b.r, err)
	addr := freeAddr(b.r)
	cmd := exec.Command(self, append([]string{mode, addr}, args...)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	check(b.r, cmd.Start())
	b.r.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, cmd.Process
		}
	}
	b.r.Fatalf("the %s did not listen", mode)
	return "", nil
}

// runRelay is the reference relay: httputil.ReverseProxy, 1 MiB buffers, no
// auth; it trusts the CA in caFile when one is given.
func runRelay(addr, upstream, caFile string) {
	target, err := url.Parse(upstream)
	if err != nil {
		log.Fatal(err)
	}
	transport := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 512}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			log.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(pem)
		transport.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	rp := &httputil.ReverseProxy{
		Rewrite:    func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.Out.Host = target.Host },
		BufferPool: bufferPool{},
		Transport:  transport,
	}
	log.Fatal(http.ListenAndServe(addr, rp))
}

type bufferPool struct{}

var relayBuffers = sync.Pool{New: func() any { b := make([]byte, mib); return &b }}

func (bufferPool) Get() []byte  { return *relayBuffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { relayBuffers.Put(&b) }

// cpuTime is a process's user plus system CPU time, from /proc.
func cpuTime(r *harness.Runner, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	check(r, err)
	// Fields after the command name, which is in parentheses.
	fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// rssBytes is a process's resident set size, from /proc.
func rssBytes(pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func freeAddr(r *harness.Runner) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(r, err)
	defer l.Close()
	return l.Addr().String()
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func percentile(sorted []float64, p int) float64 {
	return sorted[(len(sorted)-1)*p/100]
}

func report(name string, value float64) {
	fmt.Printf("BENCH %s %.3f\n", name, value)
}

func check(r *harness.Runner, err error) {
	if err != nil {
		r.Fatalf("%v", err)
	}
}
