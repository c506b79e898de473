package scenarios

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/realnode"
	"github.com/oci-connector/oci-connector/test/registry"
)

// Seed 002 on the real node: a Job mounts config.json from the CSI driver
// with the seed's volume attributes; the kubelet calls the driver (which
// registered itself with the kubelet's plugin watcher) with its token for
// the driver's audience, and the Job's client pushes through the proxy's
// Knative URL (the cluster's DNS, Traefik) as the Job's ServiceAccount.
//
// The client is crane, not buildkit: buildkitd in a pod needs runc in its
// image, and runc needs cgo (its nsenter), so it cannot be built as a
// static binary here, and no image with a C library may come from outside.
// buildkit itself builds and pushes with these files in
// test/e2e/buildkit_test.go, outside a pod.
func TestJobPushesWithTheCSIVolume(t *testing.T) {
	ns := "seed002"
	cluster.EnsureServiceAccount(t, ns, "builder")
	cluster.BindClusterRole(t, ns, "builder", connectorapi.PullerClusterRole, ns)
	cluster.BindClusterRole(t, ns, "builder", connectorapi.PusherClusterRole, ns)
	proxy := startConnector(t, ns, "harbor")

	// The driver is config/'s DaemonSet, which registers itself.
	waitFor(t, "the kubelet to register the CSI driver", func(ctx context.Context) (bool, string) {
		n, err := cluster.Client.StorageV1().CSINodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, d := range n.Spec.Drivers {
			if d.Name == connectorapi.CSIDriverName {
				return true, ""
			}
		}
		return false, "CSINode drivers " + kubeletLogTail()
	})

	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	crane := realnode.BuildStatic(t, filepath.Join(root, "test", "tools", "clients"), "github.com/google/go-containerregistry/cmd/crane")
	craneImage := public.Host + "/tools/crane:v1"
	realnode.PushBinaryImage(t, crane, craneImage, authn.Anonymous)

	built := proxy.Host + "/team/built:v1"
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "build", Namespace: ns},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To(int32(0)),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy:      corev1.RestartPolicyNever,
				ServiceAccountName: "builder",
				Containers: []corev1.Container{{
					Name: "push", Image: craneImage,
					Args:         []string{"copy", "--insecure", proxy.Host + "/" + appRepository, built},
					Env:          []corev1.EnvVar{{Name: "DOCKER_CONFIG", Value: "/root/.docker"}},
					VolumeMounts: []corev1.VolumeMount{{Name: "docker-config", MountPath: "/root/.docker", ReadOnly: true}},
				}},
				Volumes: []corev1.Volume{{Name: "docker-config", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{
					Driver: connectorapi.CSIDriverName, ReadOnly: ptr.To(true),
					VolumeAttributes: map[string]string{"connector.name": "harbor", "configuration.names": "docker-config"},
				}}}},
			}},
		},
	}
	if _, err := cluster.Client.BatchV1().Jobs(ns).Create(context.Background(), job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the Job to succeed", func(ctx context.Context) (bool, string) {
		j, err := cluster.Client.BatchV1().Jobs(ns).Get(ctx, "build", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if j.Status.Failed > 0 {
			t.Fatalf("the Job failed: %+v\n%s", j.Status, jobPods(t, ns))
		}
		return j.Status.Succeeded > 0, jobPods(t, ns)
	})

	ref, err := name.ParseReference(upstream.Host+"/team/built:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Head(ref, remote.WithAuth(&authn.Basic{Username: registry.Username, Password: registry.Password})); err != nil {
		t.Fatalf("the pushed image is not upstream: %v", err)
	}
	if !proxyAnswered(t, proxy, "system:serviceaccount:"+ns+":builder", "team/built", 201) {
		t.Error("the proxy's log has no 201 for the builder's push")
	}
}

// jobPods describes the pods of the namespace, for a failure message.
func jobPods(t *testing.T, ns string) string {
	pods, err := cluster.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	out := ""
	for i := range pods.Items {
		out += pods.Items[i].Name + ": " + podState(&pods.Items[i]) + "\n"
	}
	return out + kubeletLogTail()
}
