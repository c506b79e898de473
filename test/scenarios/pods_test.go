package scenarios

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// runPod creates a pod running image as serviceAccount, left to the
// scheduler, and returns it as stored. Its image is pulled every time
// (imagePullPolicy: Always): an image already on the node from another
// scenario must not hide a refused pull.
func runPod(t *testing.T, ns, name, serviceAccount, image string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{
			ServiceAccountName:            serviceAccount,
			TerminationGracePeriodSeconds: ptr.To(int64(1)),
			Containers:                    []corev1.Container{{Name: "app", Image: image, ImagePullPolicy: corev1.PullAlways}},
		},
	}
	for _, m := range mutate {
		m(pod)
	}
	created, err := cluster.Client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s/%s: %v", ns, name, err)
	}
	t.Cleanup(func() {
		_ = cluster.Client.CoreV1().Pods(ns).Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))})
	})
	return created
}

// waitRunning waits until the pod's container runs: the kubelet pulled its
// image. A pull that fails on the way fails t at once: no scenario here
// may lose a pull.
func waitRunning(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	var got *corev1.Pod
	waitFor(t, "pod "+ns+"/"+name+" running", func(ctx context.Context) (bool, string) {
		pod, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		got = pod
		for _, c := range pod.Status.ContainerStatuses {
			if w := c.State.Waiting; w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff") {
				t.Fatalf("pod %s/%s failed to pull: %s\n%s", ns, name, w.Message, kubeletLogTail())
			}
			if c.State.Running != nil {
				return true, ""
			}
		}
		return false, podState(pod) + "\n" + kubeletLogTail()
	})
	return got
}

// waitPullRefused waits until the kubelet reports that it could not pull
// the pod's image.
func waitPullRefused(t *testing.T, ns, name string) string {
	t.Helper()
	var message string
	waitFor(t, "pod "+ns+"/"+name+" refused its image", func(ctx context.Context) (bool, string) {
		pod, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range pod.Status.ContainerStatuses {
			if w := c.State.Waiting; w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff") {
				message = w.Message
				return true, ""
			}
			if c.State.Running != nil {
				t.Fatalf("pod %s/%s runs: its image was pulled", ns, name)
			}
		}
		return false, podState(pod)
	})
	return message
}

func podState(pod *corev1.Pod) string {
	s := fmt.Sprintf("phase %s node %q", pod.Status.Phase, pod.Spec.NodeName)
	for _, c := range pod.Status.Conditions {
		s += fmt.Sprintf("; %s=%s %s", c.Type, c.Status, c.Message)
	}
	for _, c := range pod.Status.ContainerStatuses {
		if w := c.State.Waiting; w != nil {
			s += fmt.Sprintf("; %s waiting: %s %s", c.Name, w.Reason, w.Message)
		}
	}
	return s
}
