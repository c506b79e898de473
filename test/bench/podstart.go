package main

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	corev1 "k8s.io/api/core/v1"
	apierrs "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/clientconfig"
	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/kube"
	"github.com/oci-connector/oci-connector/test/proxyproc"
	"github.com/oci-connector/oci-connector/test/realnode"
	"github.com/oci-connector/oci-connector/test/registry"
)

// podStartThroughProxy times pods starting on a real node (kubelet,
// containerd, runc) with a private image of 64 MiB, pulled through the
// proxy with a ServiceAccount token, and pulled directly with a static pull
// secret holding the registry password, alternately, the image removed from
// the node before each start. It reports the ratio of the medians.
func (b *bench) podStartThroughProxy(runs int) {
	log.Printf("starting a real node for pod start times")
	r := b.r
	const nodeName, ns = "bench-node", "podstart"
	cluster := kube.Start(r, kube.WithNode(nodeName))
	public := registry.NewOpen(r)
	realnode.PushGoImage(r, "./test/realnode/pause", public.Host+"/pause:1", authn.Anonymous)
	up := registry.NewHtpasswd(r)
	const repo = "bench/app:v1"
	realnode.PushGoImage(r, "./test/realnode/pause", up.Host+"/"+repo, registry.RobotAuth())
	realnode.AppendRandomLayer(r, up.Host+"/"+repo, 64*mib, registry.RobotAuth())

	cluster.ApplyConfig(r, "100-namespace.yaml", "200-clusterrole.yaml", "200-clusterrole-proxy-access.yaml")
	cluster.BindClusterRole(r, ns, "proxy", "oci-connector-proxy", "")
	cluster.BindClusterRole(r, ns, "app", connectorapi.PullerClusterRole, ns)
	proxy := proxyproc.Start(r, proxyproc.Options{
		Upstream: up.URL, Namespace: ns, Name: "harbor",
		Kubeconfig: cluster.KubeconfigAs(r, ns, "proxy"), Secret: registry.SecretData(),
	})
	node := realnode.Start(r, cluster, realnode.Options{
		Name: nodeName, SandboxImage: public.Host + "/pause:1",
		PlainHTTPHosts: []string{public.Host, up.Host, proxy.Host},
	})

	token := cluster.Token(r, ns, "app", v1alpha1.ConnectorAudience(ns, "harbor"), time.Hour)
	viaProxy, err := clientconfig.DockerConfig(clientconfig.Proxy{Endpoints: []clientconfig.Endpoint{{Host: proxy.Host, PlainHTTP: true}}, Token: token})
	check(r, err)
	createPullSecret(r, cluster, ns, "via-proxy", viaProxy)
	createPullSecret(r, cluster, ns, "direct", passwordConfig(up.Host))

	start := func(i int, image, secret string) float64 {
		node.ForgetImages("pause:1")
		return timePodStart(r, cluster, ns, secret+"-"+string(rune('a'+i)), image, secret)
	}
	var viaProxyTimes, directTimes []float64
	for i := range runs {
		// Alternate which goes first, so neither always meets a warmer node.
		if i%2 == 0 {
			directTimes = append(directTimes, start(i, up.Host+"/"+repo, "direct"))
			viaProxyTimes = append(viaProxyTimes, start(i, proxy.Host+"/"+repo, "via-proxy"))
		} else {
			viaProxyTimes = append(viaProxyTimes, start(i, proxy.Host+"/"+repo, "via-proxy"))
			directTimes = append(directTimes, start(i, up.Host+"/"+repo, "direct"))
		}
	}
	log.Printf("pod start seconds, through the proxy %v, direct %v", viaProxyTimes, directTimes)
	// Cold means the 64 MiB layer crossed the proxy on every start.
	checkCold(r, proxy.Requests(r), 64*mib, runs)
	log.Printf("a cold pod start: %.2f s through the proxy, %.2f s direct (medians)", median(viaProxyTimes), median(directTimes))
	report("pod_start_private_image_proxy_vs_direct", median(viaProxyTimes)/median(directTimes))
}

// timePodStart starts a pod of image with the pull secret (the caller made
// the node forget the image) and returns the seconds until its container
// runs; the pod is gone when it returns.
func timePodStart(r *harness.Runner, cluster *kube.Cluster, ns, name, image, secret string) float64 {
	ctx := context.Background()
	pods := cluster.Client.CoreV1().Pods(ns)
	began := time.Now()
	_, err := pods.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			ServiceAccountName: "app", TerminationGracePeriodSeconds: ptr.To(int64(0)),
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: secret}},
			Containers:       []corev1.Container{{Name: "app", Image: image, ImagePullPolicy: corev1.PullAlways}},
		},
	}, metav1.CreateOptions{})
	check(r, err)
	for {
		pod, err := pods.Get(ctx, name, metav1.GetOptions{})
		check(r, err)
		if len(pod.Status.ContainerStatuses) > 0 && pod.Status.ContainerStatuses[0].State.Running != nil {
			break
		}
		if time.Since(began) > 2*time.Minute {
			r.Fatalf("pod %s did not run within 2 minutes: %+v", name, pod.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(began).Seconds()
	check(r, pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}))
	for {
		if _, err := pods.Get(ctx, name, metav1.GetOptions{}); apierrs.IsNotFound(err) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return elapsed
}

// checkCold fails the run unless the proxy's access log shows the layer of
// size sent once per pod start: every start pulled cold. The layer's bytes
// are summed over its requests, so that a transfer containerd resumed with
// a range (a broken connection) still counts as the one pull it was; a
// failure lists every request that sent a mebibyte or more.
func checkCold(r *harness.Runner, requests []proxyproc.Request, size int64, runs int) {
	perPath := map[string]int64{}
	var large []string
	for _, req := range requests {
		if req.Method == "GET" && strings.Contains(req.Path, "/blobs/") {
			perPath[req.Path] += req.Bytes
		}
		if req.Bytes >= mib {
			large = append(large, fmt.Sprintf("%s %s %d: %d bytes", req.Method, req.Path, req.Status, req.Bytes))
		}
	}
	pulls := int64(0)
	for _, n := range perPath {
		if n >= size {
			pulls = max(pulls, n/size)
		}
	}
	if pulls != int64(runs) {
		r.Fatalf("the proxy sent the %d MiB layer %d times in %d starts: the image was not pulled cold every time. Its large answers:\n%s",
			size/mib, pulls, runs, strings.Join(large, "\n"))
	}
}
