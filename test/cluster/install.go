package cluster

import (
	"context"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	servingclientset "knative.dev/serving/pkg/client/clientset/versioned"

	"github.com/oci-connector/oci-connector/test/harness"
)

// Install installs oci-connector as a user does: `ko resolve -f config/`
// then kubectl apply, as the cluster admin. The only thing added is what a
// cluster without a storage provisioner needs an admin to make: a volume
// for the audit trail's claim. It waits for the controller to be available
// and for the audit and tokenrefresh Knative Services to be Ready, made so
// by Knative.
func (c *Cluster) Install(t harness.T) {
	t.Helper()
	start := time.Now()
	c.Apply(t, "config/", c.Ko(t, c.Root, "oci-connector", filepath.Join(c.Root, "config")))
	c.makeAuditVolume(t)
	c.WaitDeployments(t, "oci-connector", "oci-connector-controller")
	c.WaitKnativeService(t, "oci-connector", "audit")
	c.WaitKnativeService(t, "oci-connector", "tokenrefresh")
	c.logf("cluster: oci-connector installed with ko and Ready in %s", time.Since(start).Round(time.Second))
}

// makeAuditVolume makes the PersistentVolume the audit claim binds to: a
// directory of the node's, which the kubelet does not give the pod's
// fsGroup (it does not for host paths), so it is made the nonroot group's
// here, as a local-path provisioner would make it writable.
func (c *Cluster) makeAuditVolume(t harness.T) {
	t.Helper()
	dir := filepath.Join(c.Node.Dir, "volumes", "audit-data")
	if err := os.MkdirAll(dir, 0o775); err != nil {
		t.Fatalf("%v", err)
	}
	if err := os.Chmod(dir, 0o775); err != nil {
		t.Fatalf("%v", err)
	}
	if err := os.Chown(dir, 0, nonrootID); err != nil {
		t.Fatalf("%v", err)
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "audit-data"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
				Path: dir,
				Type: ptr.To(corev1.HostPathDirectory),
			}},
			ClaimRef: &corev1.ObjectReference{Namespace: "oci-connector", Name: "audit-data"},
		},
	}
	if _, err := c.Kube.Client.CoreV1().PersistentVolumes().Create(context.Background(), pv, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating the audit volume: %v", err)
	}
}

// WaitKnativeService waits until Knative reports the Knative Service Ready.
func (c *Cluster) WaitKnativeService(t harness.T, namespace, name string) {
	t.Helper()
	serving := servingclientset.NewForConfigOrDie(c.Kube.Config)
	harness.WaitFor(t, 5*time.Minute, "Knative Service "+namespace+"/"+name+" Ready", func(ctx context.Context) (bool, string) {
		ksvc, err := serving.ServingV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return ksvc.IsReady(), conditions(ksvc.Status.Conditions) + "\n" + c.podsState(ctx, namespace)
	})
}

// ServicePods counts the pods of the Knative Service ns/service (every
// revision's), and the Ready ones; terminating ones too when
// withTerminating (a pod still serves while it drains).
func (c *Cluster) ServicePods(ctx context.Context, ns, service string, withTerminating bool) (ready, all int, err error) {
	pods, err := c.Kube.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "serving.knative.dev/service=" + service})
	if err != nil {
		return 0, 0, err
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil && !withTerminating {
			continue
		}
		all++
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	return ready, all, nil
}
