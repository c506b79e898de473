package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/test/csiproc"
)

// csiPublishLatency times n NodePublishVolume calls to the shipped CSI
// driver, ten a second (a node starting ten builder pods a second; faster
// than about fifteen a second, the driver's client-side API limit, the
// kubelet's 50 calls a second, queues them), each a first publish of a new
// volume with every configuration:
// TokenReview of the kubelet's token, the pod read, a SubjectAccessReview
// (the first one only; the answer is kept for seconds), a TokenRequest and
// the files written on a fresh tmpfs. The Connector lister is warm, as on a
// node that has run for a while. Unpublishing is not timed.
func (b *bench) csiPublishLatency(n int) {
	log.Printf("%d CSI volume publishes", n)
	const node, sa = "bench-node", "builder"
	b.cluster.ApplyConfig(b.r, "200-serviceaccount.yaml", "200-clusterrole-csi.yaml")
	b.readyConnector("csi", nil)
	b.cluster.BindClusterRole(b.r, namespace, sa, connectorapi.PullerClusterRole, namespace)
	ctx := context.Background()
	_, err := b.cluster.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}, metav1.CreateOptions{})
	check(b.r, err)
	pod, err := b.cluster.Client.CoreV1().Pods(namespace).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "csi-bench"},
		Spec: corev1.PodSpec{NodeName: node, ServiceAccountName: sa,
			Containers: []corev1.Container{{Name: "build", Image: "registry.example.com/build:v1"}}},
	}, metav1.CreateOptions{})
	check(b.r, err)
	driver := csiproc.Start(b.r, b.cluster, node)
	// The kubelet mints its token once per pod and keeps it.
	tokens, err := csiproc.KubeletToken(ctx, b.cluster.Client, pod, v1alpha1.CSIAudience)
	check(b.r, err)
	volumeContext := csiproc.VolumeContext(pod, pod.UID, tokens, map[string]string{
		"connector": "csi", "configurations": "docker-config,buildkitd,containers-auth,registries-conf,containerd-hosts",
	})
	capability := &csi.VolumeCapability{AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}}}

	var samples []float64
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := range n {
		<-tick.C
		id := fmt.Sprintf("csi-bench-%d", i)
		target := filepath.Join(driver.Dir, "pods", id, "mount")
		check(b.r, os.MkdirAll(filepath.Dir(target), 0o750))
		start := time.Now()
		_, err := driver.Node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{
			VolumeId: id, TargetPath: target, VolumeCapability: capability, Readonly: true, VolumeContext: volumeContext,
		})
		elapsed := time.Since(start)
		check(b.r, err)
		samples = append(samples, float64(elapsed.Microseconds())/1000)
		_, err = driver.Node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: target})
		check(b.r, err)
	}
	slices.Sort(samples)
	// The reference: the one API call every pod-token volume costs, a
	// pod-bound TokenRequest for the same ServiceAccount, at the same pace.
	var requests []float64
	for range n {
		<-tick.C
		start := time.Now()
		_, err := b.cluster.Client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			Audiences:      []string{v1alpha1.ConnectorAudience(namespace, "csi")},
			BoundObjectRef: &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID},
		}}, metav1.CreateOptions{})
		check(b.r, err)
		requests = append(requests, float64(time.Since(start).Microseconds())/1000)
	}
	slices.Sort(requests)
	log.Printf("CSI publish p50 %.2f ms, p99 %.2f ms; a bare pod-bound TokenRequest p50 %.2f ms, p99 %.2f ms",
		percentile(samples, 50), percentile(samples, 99), percentile(requests, 50), percentile(requests, 99))
	report("csi_publish_p50_vs_tokenrequest", percentile(samples, 50)/percentile(requests, 50))
	report("csi_publish_p99_vs_tokenrequest", percentile(samples, 99)/percentile(requests, 99))
}
