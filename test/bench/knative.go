package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/clientconfig"
	"github.com/oci-connector/oci-connector/reconcilers/connector/resources"
	"github.com/oci-connector/oci-connector/test/cluster"
	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/kube"
	"github.com/oci-connector/oci-connector/test/proxyproc"
	"github.com/oci-connector/oci-connector/test/realnode"
	"github.com/oci-connector/oci-connector/test/registry"
)

// knative measures the proxy as users run it: a Knative revision behind
// Traefik, in the private cluster of test/cluster (the bench runs in its
// network namespace). Pod starts through the Connector's Knative URL
// against direct pulls with a static pull secret, scale from zero, the cost
// of the Knative data path (Traefik and queue-proxy) for a large blob, and
// pulls while the autoscaler adds and removes replicas.
func (b *bench) knative(runs int, blobSize int64) {
	r := b.r
	log.Print("starting the private cluster with Knative Serving, Traefik and oci-connector")
	pc := cluster.Start(r, cluster.Options{})
	pc.Install(r)
	const ns, repo = "knative-bench", "bench/app:v1"
	up := registry.NewHtpasswd(r, registry.WithListenIP(cluster.NodeIP), registry.WithFilesystem(r.TempDir()))
	realnode.PushGoImage(r, "./test/realnode/pause", up.Host+"/"+repo, registry.RobotAuth())
	realnode.AppendRandomLayer(r, up.Host+"/"+repo, 64*mib, registry.RobotAuth())
	pc.Kube.EnsureServiceAccount(r, ns, "app")
	pc.Kube.BindClusterRole(r, ns, "app", connectorapi.PullerClusterRole, ns)
	host, service := readyConnector(r, pc, ns, "warm", up.URL, 1, 3, 100)
	token := pc.Kube.Token(r, ns, "app", v1alpha1.ConnectorAudience(ns, "warm"), time.Hour)

	// Pod starts: the same 64 MiB image, cold on the node, through the
	// Knative URL with the ServiceAccount's token, and direct with the
	// registry password.
	viaKnative, err := clientconfig.DockerConfig(clientconfig.Proxy{Endpoints: []clientconfig.Endpoint{{Host: host, PlainHTTP: true}}, Token: token})
	check(r, err)
	createPullSecret(r, pc.Kube, ns, "via-knative", viaKnative)
	createPullSecret(r, pc.Kube, ns, "direct", passwordConfig(up.Host))
	pc.Node.AddPlainHTTPHost(r, up.Host)
	var knativeTimes, directTimes []float64
	for i := range runs {
		// Only the image under test is forgotten: Knative's pods run on.
		viaK := func() {
			pc.Node.ForgetImage("bench/app")
			knativeTimes = append(knativeTimes, timePodStart(r, pc.Kube, ns, fmt.Sprintf("knative-%d", i), host+"/"+repo, "via-knative"))
		}
		direct := func() {
			pc.Node.ForgetImage("bench/app")
			directTimes = append(directTimes, timePodStart(r, pc.Kube, ns, fmt.Sprintf("direct-%d", i), up.Host+"/"+repo, "direct"))
		}
		// Alternate which goes first, so neither always meets a warmer node.
		if i%2 == 0 {
			direct()
			viaK()
		} else {
			viaK()
			direct()
		}
	}
	log.Printf("pod start seconds, through Knative %v, direct %v", knativeTimes, directTimes)
	// Cold means the 64 MiB layer crossed the proxy on every start.
	checkCold(r, proxyproc.ParseRequests(strings.NewReader(pc.ContainerLog(ns, service+"-", "proxy"))), 64*mib, runs)
	report("knative_pod_start_vs_direct", median(knativeTimes)/median(directTimes))

	// The Knative data path against the same proxy reached at its pod.
	digest := b.uploadBlobTo(up, blobSize)
	path := "/v2/" + benchRepo + "/blobs/" + digest
	podIP := readyPodIP(r, pc, ns, service)
	var viaTraefik, atPod []float64
	for range 3 {
		viaTraefik = append(viaTraefik, b.timed(blobSize, func() { b.get("http://"+host, path, "u", token, "") }))
		atPod = append(atPod, b.timed(blobSize, func() { b.get("http://"+podIP+":8080", path, "u", token, "") }))
	}
	log.Printf("%d MiB blob MB/s: through Traefik and queue-proxy %v, the proxy at its pod %v", blobSize/mib, mbs(viaTraefik), mbs(atPod))
	report("blob_1g_knative_vs_proxy", median(viaTraefik)/median(atPod))

	// Scale from zero: from the first request to a served manifest.
	coldHost, coldService := readyConnector(r, pc, ns, "cold", up.URL, 0, 1, 100)
	coldToken := pc.Kube.Token(r, ns, "app", v1alpha1.ConnectorAudience(ns, "cold"), time.Hour)
	var fromZero []float64
	for range runs {
		waitNoPods(r, pc, ns, coldService)
		start := time.Now()
		b.get("http://"+coldHost, "/v2/bench/app/manifests/v1", "u", coldToken, manifestOK)
		fromZero = append(fromZero, time.Since(start).Seconds())
	}
	log.Printf("scale from zero seconds %v", fromZero)
	report("knative_scale_from_zero_s", median(fromZero))

	b.autoscalePulls(pc, ns, up)
}

// autoscalePulls pulls a 32 MiB layer with 8 clients against a target of 1
// request per replica until the autoscaler has added a replica, then with
// one, once a second, until it is back to one, and reports the pulls that
// failed.
func (b *bench) autoscalePulls(pc *cluster.Cluster, ns string, up *registry.Registry) {
	r := b.r
	host, service := readyConnector(r, pc, ns, "busy", up.URL, 1, 3, 1)
	token := pc.Kube.Token(r, ns, "app", v1alpha1.ConnectorAudience(ns, "busy"), time.Hour)
	path := "/v2/" + benchRepo + "/blobs/" + b.uploadBlobTo(up, 32*mib)
	var pulls, failures atomic.Int64
	pull := func() {
		req, _ := http.NewRequest("GET", "http://"+host+path, nil)
		req.SetBasicAuth("u", token)
		resp, err := b.client.Do(req)
		pulls.Add(1)
		if err != nil {
			failures.Add(1)
			return
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			failures.Add(1)
		}
	}
	// Each client pulls, then waits pause before the next pull, until
	// done holds of the Ready pods and all pods.
	phase := func(what string, clients int, pause time.Duration, done func(ready, all int) bool) {
		stop := harness.Repeat(clients, pause, pull)
		defer stop()
		harness.WaitFor(r, 3*time.Minute, what, func(ctx context.Context) (bool, string) {
			ready, all := countPods(r, pc, ns, service, false)
			return done(ready, all), fmt.Sprintf("%d pods, %d ready", all, ready)
		})
	}
	most := 0
	phase("two or more Ready replicas under load", 8, 0, func(ready, _ int) bool { most = max(most, ready); return ready >= 2 })
	// Light load: one client, mostly idle (a steady one would keep two
	// replicas at a target of 1 and 70% utilization).
	phase("back to one replica", 1, time.Second, func(ready, all int) bool { return ready == 1 && all == 1 })
	log.Printf("autoscaling: up to %d Ready replicas, back to one; %d pulls", most, pulls.Load())
	report("autoscale_pulls_errors", float64(failures.Load()))
}

// readyConnector makes a Connector with the given scale in front of the
// registry at address, waits until Knative has made it Ready, and returns
// its URL's host and its Knative Service's name.
func readyConnector(r *harness.Runner, pc *cluster.Cluster, ns, name, address string, minScale, maxScale, target int32) (host, service string) {
	c := cluster.BasicConnector(ns, name, address)
	c.Spec.Proxy = v1alpha1.ProxySpec{MinScale: ptr.To(minScale), MaxScale: ptr.To(maxScale), TargetConcurrency: ptr.To(target)}
	ready := pc.ReadyConnector(r, c, registry.SecretData())
	return ready.Status.URL.Host, resources.ServiceName(ready)
}

// createPullSecret stores a docker config as a pull secret.
func createPullSecret(r *harness.Runner, kc *kube.Cluster, ns, name string, config []byte) {
	_, err := kc.Client.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: config},
	}, metav1.CreateOptions{})
	check(r, err)
}

// passwordConfig is a docker config with the registry password for host:
// what the proxy spares every namespace.
func passwordConfig(host string) []byte {
	raw, _ := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{
		"auth": base64.StdEncoding.EncodeToString([]byte(registry.Username + ":" + registry.Password)),
	}}})
	return raw
}

// countPods counts the pods of the Knative Service, and the Ready ones.
func countPods(r *harness.Runner, pc *cluster.Cluster, ns, service string, withTerminating bool) (ready, all int) {
	ready, all, err := pc.ServicePods(context.Background(), ns, service, withTerminating)
	check(r, err)
	return ready, all
}

// waitNoPods waits until Knative has scaled the Knative Service to zero,
// and its last pod, which serves while it drains, is gone.
func waitNoPods(r *harness.Runner, pc *cluster.Cluster, ns, service string) {
	harness.WaitFor(r, 3*time.Minute, ns+"/"+service+" scaled to zero", func(context.Context) (bool, string) {
		ready, all := countPods(r, pc, ns, service, true)
		return all == 0, fmt.Sprintf("%d pods, %d ready", all, ready)
	})
}

// readyPodIP is the address of a Ready pod of the Knative Service.
func readyPodIP(r *harness.Runner, pc *cluster.Cluster, ns, service string) string {
	pods, err := pc.Kube.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	check(r, err)
	for _, p := range pods.Items {
		if p.Labels["serving.knative.dev/service"] == service && p.DeletionTimestamp == nil && p.Status.PodIP != "" {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					return p.Status.PodIP
				}
			}
		}
	}
	r.Fatalf("no Ready pod of %s/%s", ns, service)
	return ""
}

// mbs spells rates in MB/s.
func mbs(rates []float64) []string {
	out := make([]string, len(rates))
	for i, v := range rates {
		out[i] = fmt.Sprintf("%.0f", v/1e6)
	}
	return out
}
