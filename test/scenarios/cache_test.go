package scenarios

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	privatecluster "github.com/oci-connector/oci-connector/test/cluster"
	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/objectstoreproc"
	"github.com/oci-connector/oci-connector/test/realnode"
	"github.com/oci-connector/oci-connector/test/registry"
)

// A pod's image, pulled once through a Connector that caches in a bucket,
// is pulled again by the kubelet after the upstream went away, the node
// forgot the image, and the proxy scaled to zero: the proxy Knative starts
// for the pull finds the image in the bucket. An image never pulled gives
// its pod a pull error that says the upstream is unreachable.
func TestPodsStartFromTheCacheWhileTheUpstreamIsDown(t *testing.T) {
	ns := "cache"
	cluster.EnsureServiceAccount(t, ns, "app")
	cluster.BindClusterRole(t, ns, "app", connectorapi.PullerClusterRole, ns)
	const image = "team/cached:v1"
	realnode.PushGoImage(t, "./test/realnode/pause", upstream.Host+"/"+image, registry.RobotAuth())
	// A layer of its own: the pause image's are on the node already, and
	// containerd fetches only what it lacks.
	realnode.AppendRandomLayer(t, upstream.Host+"/"+image, 1<<20, registry.RobotAuth())

	// The upstream behind a gate the test takes down, and the object store,
	// on the node's address where the proxy's pods reach them.
	gate := harness.StartGate(t, upstream.Host, harness.GateOptions{ListenIP: privatecluster.NodeIP})
	store := objectstoreproc.Start(t, fmt.Sprintf("%s:%d", privatecluster.NodeIP, harness.FreePort(t)))
	if _, err := cluster.Client.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "cache-keys"}, StringData: store.SecretData(),
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := privatecluster.BasicConnector(ns, "harbor", "http://"+gate.Addr)
	c.Spec.Proxy.MinScale = ptr.To(int32(0))
	c.Spec.PullSecrets = &v1alpha1.PullSecretsSpec{ServiceAccounts: []string{"app"}}
	c.Spec.Cache = &v1alpha1.CacheSpec{Storage: v1alpha1.CacheStorageS3, Endpoint: store.Endpoint, Bucket: store.Bucket,
		Prefix: ns + "/harbor", SecretRef: &v1alpha1.SecretReference{Name: "cache-keys"}}
	ready := pc.ReadyConnector(t, c, registry.SecretData())
	if cond := ready.Status.GetCondition(v1alpha1.ConditionCacheReady); !cond.IsTrue() {
		t.Fatalf("CacheReady %+v", cond)
	}
	proxy := &connectorProxy{Host: ready.Status.URL.Host, namespace: ns, service: "c-harbor"}
	// The proxy's pods go when it scales to zero, and their logs with them.
	var logs []string
	t.Cleanup(func() {
		if t.Failed() {
			for _, log := range append(logs, proxy.Log()) {
				t.Logf("a proxy pod's log:\n%s", log[max(0, len(log)-10000):])
			}
		}
	})
	pullSecretOn(t, ns, "app", nil)

	runPod(t, ns, "first", "app", proxy.Host+"/"+image)
	waitRunning(t, ns, "first")
	if err := cluster.Client.CoreV1().Pods(ns).Delete(context.Background(), "first", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}); err != nil {
		t.Fatal(err)
	}

	logs = append(logs, proxy.Log())
	gate.Down()
	waitScaledToZero(t, ns, proxy.service)
	node.ForgetImage("team/cached")

	runPod(t, ns, "second", "app", proxy.Host+"/"+image)
	waitRunning(t, ns, "second")
	var stale, hits int
	for _, r := range proxy.Requests() {
		switch {
		case r.Repository == "team/cached" && strings.Contains(r.Path, "/manifests/v1") && r.Cache == "stale" && r.Status == 200:
			stale++
		case r.Repository == "team/cached" && strings.Contains(r.Path, "/blobs/") && r.Cache == "hit":
			hits++
		}
	}
	if stale == 0 || hits == 0 {
		t.Errorf("the second pull: %d stale answers for the tag and %d blobs from the cache, want some of each", stale, hits)
	}
	t.Logf("with the upstream down and the proxy started from zero, the pod ran from the bucket: %d stale tag answers, %d cached blobs", stale, hits)

	// containerd reports the status, not the body: the proxy's 502, whose
	// OCI error says the upstream is unreachable.
	runPod(t, ns, "uncached", "app", proxy.Host+"/team/never:v1")
	if msg := waitPullRefused(t, ns, "uncached"); !strings.Contains(msg, "502 Bad Gateway") {
		t.Errorf("an uncached image's pull error says %q, want the proxy's 502", msg)
	}
	refused := false
	for _, r := range proxy.Requests() {
		refused = refused || (r.Repository == "team/never" && r.Status == 502 && r.Cache == "miss")
	}
	if !refused {
		t.Errorf("the proxy's log has no 502 for the uncached image")
	}
}
