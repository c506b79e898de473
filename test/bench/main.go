// Command bench is `make bench`: it runs the upstream registry, a plain
// reference relay and the proxy side by side on 127.0.0.1 and prints one
// figure per line as `BENCH <name> <value>`. The reference relay is
// httputil.ReverseProxy with 1 MiB buffers and no auth: the cost of any HTTP
// proxy at all. Every loop is bounded in count and time.
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oci-connector/oci-connector/pkg/apis/config"
	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/test/cluster"
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
	only := flag.String("only", "", "run one part: admission, events, latency, pullsecrets, flood, csi, podstart, throughput, memory, tls, redirects, reliability, cache, knative")
	flag.Parse()
	log.SetFlags(log.Ltime)

	if *only == "knative" {
		// In a network namespace of its own, the private cluster's.
		if code := cluster.RunInNetns(); code >= 0 {
			os.Exit(code)
		}
		r := &harness.Runner{}
		defer r.Close()
		b := &bench{r: r, client: newClient()}
		b.knative(5, *blobSize*mib)
		return
	}
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
	case "latency":
		b.startupToReady()
		b.manifestLatency(1000)
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
	case "cache":
		b.startupToReady()
		b.cache(b.uploadBlob(*blobSize*mib), *blobSize*mib)
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
	b.cache(big, *blobSize*mib)
	b.csiPublishLatency(200)
	// The private Knative cluster runs in a process (and network namespace)
	// of its own, over before the real node below starts: two kubelets on
	// one machine share the pods' cgroups, and each kills the other's.
	runPart(r, "knative", "-blob-mib", strconv.FormatInt(*blobSize, 10))
	b.podStartThroughProxy(5)
}

// runPart runs one part of the bench in a process of its own, its figures
// printed with the rest.
func runPart(r *harness.Runner, part string, args ...string) {
	self, err := os.Executable()
	check(r, err)
	cmd := exec.Command(self, append([]string{"-only", part}, args...)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		r.Fatalf("the %s part of the bench: %v", part, err)
	}
}

// newClient is the bench's HTTP client: many connections per host, no
// compression.
func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512, DisableCompression: true}}
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
	b.client = newClient()
	b.relay, b.relayProc = b.startRelayTo(reg.URL, "")
	b.floor, b.floorProc = b.startHelper("splice-relay", strings.TrimPrefix(reg.URL, "http://"))
	return b
}
