package main

import (
	"context"
	"fmt"
	"log"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/test/harness"
)

// pullSecretLatency creates n ServiceAccounts, one at a time, in a
// namespace a Connector's pullSecrets select, and times each from its
// creation until it references a pull secret written by tokenrefresh. Before
// each, tokenrefresh is scaled to zero: the controller's event starts it,
// as Knative's activator would, so every sample includes a cold start.
func (b *bench) pullSecretLatency(n int) {
	log.Printf("%d new ServiceAccounts waiting for their pull secrets, tokenrefresh starting cold for each", n)
	const ns = "bench-pullsecrets"
	b.cluster.EnsureNamespace(b.r, ns)
	// Every ServiceAccount of the namespace may pull.
	if out, err := b.cluster.Kubectl(b.r, "create", "rolebinding", "bench-pullsecrets", "-n", namespace,
		"--clusterrole="+connectorapi.PullerClusterRole, "--group=system:serviceaccounts:"+ns); err != nil {
		b.r.Fatalf("%v: %s", err, out)
	}
	addr := harness.FreeAddr(b.r)
	b.tokenrefresh.bin = harness.GoBinary(b.r, "./functions/tokenrefresh")
	b.tokenrefresh.args = []string{"--listen", addr, "--kubeconfig", b.cluster.Kubeconfig}
	b.tokenrefresh.addr = addr
	b.readyConnector("pullsecrets", &v1alpha1.PullSecretsSpec{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
		ServiceAccounts:   []string{"*"},
	})

	ctx := context.Background()
	accounts := b.cluster.Client.CoreV1().ServiceAccounts(ns)
	var samples []float64
	for i := range n {
		b.tokenrefresh.stop()
		name := fmt.Sprintf("sa-%d", i)
		start := time.Now()
		if _, err := accounts.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			b.r.Fatalf("creating ServiceAccount %s: %v", name, err)
		}
		for {
			sa, err := accounts.Get(ctx, name, metav1.GetOptions{})
			check(b.r, err)
			if len(sa.ImagePullSecrets) > 0 {
				break
			}
			if time.Since(start) > 30*time.Second {
				b.r.Fatalf("ServiceAccount %s got no pull secret within 30s", name)
			}
			time.Sleep(5 * time.Millisecond)
		}
		samples = append(samples, float64(time.Since(start).Microseconds())/1000)
	}
	b.tokenrefresh.stop()
	slices.Sort(samples)
	bare := b.serviceAccountCreateAndWatch(n)
	log.Printf("a new ServiceAccount has its pull secret after %.1f ms at the median, %.1f ms at most; a bare create-and-watch takes %.1f ms",
		percentile(samples, 50), samples[len(samples)-1], percentile(bare, 50))
	report("pullsecret_new_sa_vs_bare_create", percentile(samples, 50)/percentile(bare, 50))
	report("pullsecret_new_sa_max_vs_bare_create", samples[len(samples)-1]/percentile(bare, 50))
	var starts []float64
	for _, d := range b.tokenrefresh.starts {
		starts = append(starts, float64(d.Microseconds())/1000)
	}
	slices.Sort(starts)
	relay := float64(b.relayStartup().Microseconds()) / 1000
	log.Printf("tokenrefresh started from zero in %.1f ms at the median; the reference relay in %.1f ms", percentile(starts, 50), relay)
	report("tokenrefresh_cold_start_vs_relay", percentile(starts, 50)/relay)
}

// serviceAccountCreateAndWatch is the reference of pullSecretLatency, on
// the same API server in the same run: n ServiceAccounts created one at a
// time in a namespace nothing selects, each timed from its creation until
// a watch of the namespace sees it (milliseconds, sorted).
func (b *bench) serviceAccountCreateAndWatch(n int) []float64 {
	const ns = "bench-bare-serviceaccounts"
	b.cluster.EnsureNamespace(b.r, ns)
	ctx := context.Background()
	accounts := b.cluster.Client.CoreV1().ServiceAccounts(ns)
	w, err := accounts.Watch(ctx, metav1.ListOptions{})
	check(b.r, err)
	defer w.Stop()
	var out []float64
	for i := range n {
		name := fmt.Sprintf("bare-%d", i)
		start := time.Now()
		_, err := accounts.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		check(b.r, err)
		for seen := false; !seen; {
			select {
			case e, ok := <-w.ResultChan():
				if !ok {
					b.r.Fatalf("the ServiceAccount watch ended")
				}
				if sa, isSA := e.Object.(*corev1.ServiceAccount); isSA && sa.Name == name {
					seen = true
				}
			case <-time.After(30 * time.Second):
				b.r.Fatalf("the watch did not see ServiceAccount %s within 30s", name)
			}
		}
		out = append(out, float64(time.Since(start).Microseconds())/1000)
	}
	slices.Sort(out)
	return out
}
