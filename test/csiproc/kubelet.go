package csiproc

import (
	"context"
	"encoding/json"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// KubeletToken mints what the kubelet mints for a CSIDriver's
// tokenRequests: a token of the pod's ServiceAccount for audience, bound
// to the pod, as the serviceAccount.tokens volume attribute holds it.
func KubeletToken(ctx context.Context, kube kubernetes.Interface, pod *corev1.Pod, audience string) (string, error) {
	tr, err := kube.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, pod.Spec.ServiceAccountName, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:         []string{audience},
			ExpirationSeconds: ptr.To(int64(600)),
			BoundObjectRef:    &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("minting the kubelet's token for pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	raw, err := json.Marshal(map[string]any{audience: map[string]any{"token": tr.Status.Token, "expirationTimestamp": tr.Status.ExpirationTimestamp}})
	return string(raw), err
}

// VolumeContext is what the kubelet sends for a pod's inline volume with
// podInfoOnMount: the pod's identity (claiming uid), its tokens (empty:
// none), and the pod's volumeAttributes.
func VolumeContext(pod *corev1.Pod, uid types.UID, tokens string, attrs map[string]string) map[string]string {
	out := map[string]string{
		"csi.storage.k8s.io/pod.name":            pod.Name,
		"csi.storage.k8s.io/pod.namespace":       pod.Namespace,
		"csi.storage.k8s.io/pod.uid":             string(uid),
		"csi.storage.k8s.io/serviceAccount.name": pod.Spec.ServiceAccountName,
		"csi.storage.k8s.io/ephemeral":           "true",
	}
	if tokens != "" {
		out["csi.storage.k8s.io/serviceAccount.tokens"] = tokens
	}
	for k, v := range attrs {
		out[k] = v
	}
	return out
}
