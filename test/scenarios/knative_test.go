package scenarios

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"k8s.io/utils/ptr"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/realnode"
	"github.com/oci-connector/oci-connector/test/registry"
)

// readyPods counts the pods of the Knative Service, and the Ready ones.
func readyPods(ctx context.Context, ns, service string, withTerminating bool) (ready, all int) {
	ready, all, _ = pc.ServicePods(ctx, ns, service, withTerminating)
	return ready, all
}

// waitScaledToZero waits until Knative has removed every pod of the
// Knative Service, the draining ones too.
func waitScaledToZero(t *testing.T, ns, service string) {
	t.Helper()
	waitFor(t, ns+"/"+service+" scaled to zero", func(ctx context.Context) (bool, string) {
		ready, all := readyPods(ctx, ns, service, true)
		return all == 0, fmt.Sprintf("%d pods, %d ready", all, ready)
	})
}

// A Connector with minScale 0 has no proxy running once idle; a pod's
// first pull waits for Knative's activator to start one, and runs.
func TestScaleFromZero(t *testing.T) {
	ns := "scale-from-zero"
	cluster.EnsureServiceAccount(t, ns, "app")
	cluster.BindClusterRole(t, ns, "app", connectorapi.PullerClusterRole, ns)
	proxy := startConnector(t, ns, "harbor", func(s *v1alpha1.ConnectorSpec) {
		s.Proxy.MinScale = ptr.To(int32(0))
		s.PullSecrets = &v1alpha1.PullSecretsSpec{ServiceAccounts: []string{"app"}}
	})
	pullSecretOn(t, ns, "app", nil)
	waitScaledToZero(t, ns, proxy.service)

	start := time.Now()
	runPod(t, ns, "first", "app", proxy.Host+"/"+appRepository)
	waitRunning(t, ns, "first")
	t.Logf("scale from zero: the pod ran %v after it was created, its image pulled through a proxy the activator started", time.Since(start).Round(time.Millisecond))
	if !proxyAnswered(t, proxy, "system:serviceaccount:"+ns+":app", "team/app", 200) {
		t.Error("the proxy's log has no 200 for the pod's ServiceAccount")
	}
}

// Concurrent pulls above the revision's target concurrency make Knative's
// autoscaler add proxy replicas; it scales back when they stop. No pull
// fails on the way up or down. (config-autoscaler's stable window is 6
// seconds in the test cluster.)
func TestAutoscalingUnderConcurrentPulls(t *testing.T) {
	ns := "autoscaling"
	cluster.EnsureServiceAccount(t, ns, "app")
	cluster.BindClusterRole(t, ns, "app", connectorapi.PullerClusterRole, ns)
	proxy := startConnector(t, ns, "harbor", func(s *v1alpha1.ConnectorSpec) {
		s.Proxy.MinScale = ptr.To(int32(1))
		s.Proxy.MaxScale = ptr.To(int32(3))
		s.Proxy.TargetConcurrency = ptr.To(int32(1))
	})
	// A layer large enough that each pull keeps a request in flight a while.
	ref := "team/big:v1"
	realnode.PushGoImage(t, "./test/realnode/pause", upstream.Host+"/"+ref, registry.RobotAuth())
	realnode.AppendRandomLayer(t, upstream.Host+"/"+ref, 32<<20, registry.RobotAuth())
	image, err := name.ParseReference(proxy.Host+"/"+ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	auth := &authn.Basic{Username: "u", Password: cluster.Token(t, ns, "app", v1alpha1.ConnectorAudience(ns, "harbor"), time.Hour)}
	img, err := remote.Image(image, remote.WithAuth(auth))
	if err != nil {
		t.Fatalf("reading %s through the proxy: %v", image, err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	big := layers[len(layers)-1]
	digest, err := big.Digest()
	if err != nil {
		t.Fatal(err)
	}

	var pulls, failures atomic.Int64
	var firstFailure atomic.Value
	pull := func() {
		layer, err := remote.Layer(image.Context().Digest(digest.String()), remote.WithAuth(auth))
		if err == nil {
			err = readAll(layer)
		}
		pulls.Add(1)
		if err != nil {
			failures.Add(1)
			firstFailure.CompareAndSwap(nil, err.Error())
		}
	}
	// Up: 8 pullers at once against a target of 1 in flight per replica.
	stop := harness.Repeat(8, 0, pull)
	most := 0
	harness.WaitFor(t, 3*time.Minute, "two or more Ready proxy replicas under load", func(ctx context.Context) (bool, string) {
		ready, all := readyPods(ctx, ns, proxy.service, false)
		most = max(most, ready)
		return ready >= 2, fmt.Sprintf("%d pods, %d ready; %d pulls, %d failed", all, ready, pulls.Load(), failures.Load())
	})
	stop()
	t.Logf("scaled up to %d Ready replicas under 8 concurrent pullers; %d pulls", most, pulls.Load())
	// Down: one puller, once a second, until a single replica is left (a
	// steady one would hold two at a target of 1 and 70% utilization).
	stop = harness.Repeat(1, time.Second, pull)
	harness.WaitFor(t, 3*time.Minute, "back to one proxy replica", func(ctx context.Context) (bool, string) {
		ready, all := readyPods(ctx, ns, proxy.service, false)
		return all == 1 && ready == 1, fmt.Sprintf("%d pods, %d ready", all, ready)
	})
	stop()
	if n := failures.Load(); n > 0 {
		t.Errorf("%d of %d pulls failed while the proxy scaled; the first: %v", n, pulls.Load(), firstFailure.Load())
	}
	t.Logf("autoscale_pulls_errors %d of %d pulls", failures.Load(), pulls.Load())
}

// readAll reads a layer's compressed bytes to the end.
func readAll(l v1.Layer) error {
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	return err
}

// tokenrefresh ships with min-scale 0: when it has scaled to zero, the
// controller's pullsecrets.refresh for a new ServiceAccount wakes it
// through Knative's activator, and the ServiceAccount gets its pull secret.
func TestTokenrefreshWakesFromZero(t *testing.T) {
	ns := "tokenrefresh-wakes"
	cluster.EnsureNamespace(t, ns)
	// Every ServiceAccount of the namespace may pull through the Connector.
	if out, err := cluster.Kubectl(t, "create", "rolebinding", "pullers", "-n", ns,
		"--clusterrole="+connectorapi.PullerClusterRole, "--group=system:serviceaccounts:"+ns); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	startConnector(t, ns, "harbor", withPullSecrets(&v1alpha1.PullSecretsSpec{ServiceAccounts: []string{"*"}}))
	waitScaledToZero(t, connectorapi.SystemNamespace, "tokenrefresh")
	start := time.Now()
	cluster.EnsureServiceAccount(t, ns, "newcomer")
	pullSecretOn(t, ns, "newcomer", nil)
	t.Logf("a pull secret for a new ServiceAccount %v after it was made, tokenrefresh woken from zero", time.Since(start).Round(time.Millisecond))
}
