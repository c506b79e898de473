package main

import (
	"context"
	"errors"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/oci-connector/oci-connector/pkg/access"
	"github.com/oci-connector/oci-connector/pkg/identity"
)

// The user extra keys the API server puts on a pod-bound ServiceAccount
// token (pod name and UID; the node since Kubernetes 1.32).
const (
	extraPodName  = "authentication.kubernetes.io/pod-name"
	extraPodUID   = "authentication.kubernetes.io/pod-uid"
	extraNodeName = "authentication.kubernetes.io/node-name"
)

// voucher decides whether the kubelet vouches for the pod a volume is for.
// The volume context alone proves nothing: anything that can reach the
// driver's socket could write one. The kubelet's token for the CSI
// audience can only be minted for a pod that exists, and the pod must be
// on this node.
type voucher struct {
	kube kubernetes.Interface
	// authn checks the kubelet's token: its signature locally, then
	// TokenReview (package identity).
	authn    *identity.Authenticator
	nodeName string
	audience string
}

// vouch returns nil when the kubelet's token and the pod agree with v.Pod
// and the pod runs on this node; otherwise a refusal saying which did not.
func (vc *voucher) vouch(ctx context.Context, v volumeRequest) error {
	tok, ok := v.KubeletTokens[vc.audience]
	if !ok || tok.Token == "" {
		return refusef(codes.Unauthenticated, "the kubelet sent no token for the audience %s: the CSIDriver %s must request it in tokenRequests", vc.audience, driverName)
	}
	user, _, err := vc.authn.Authenticate(ctx, tok.Token, []string{vc.audience})
	if errors.Is(err, identity.ErrBadToken) {
		return refusef(codes.Unauthenticated, "the kubelet's token for pod %s/%s is not valid for %s", v.Pod.Namespace, v.Pod.Name, vc.audience)
	} else if err != nil {
		return refusef(codes.Unavailable, "%v", err)
	}
	if want := access.ServiceAccount(v.Pod.Namespace, v.Pod.ServiceAccount).Username; user.Username != want {
		return refusef(codes.PermissionDenied, "the kubelet's token is for %s, not the pod's ServiceAccount %s", user.Username, want)
	}
	if !extraIs(user.Extra, extraPodName, v.Pod.Name) || !extraIs(user.Extra, extraPodUID, string(v.Pod.UID)) {
		return refusef(codes.PermissionDenied, "the kubelet's token is not bound to pod %s/%s with UID %s", v.Pod.Namespace, v.Pod.Name, v.Pod.UID)
	}
	if nodes, ok := user.Extra[extraNodeName]; ok && !slices.Equal(nodes, []string{vc.nodeName}) {
		return refusef(codes.PermissionDenied, "pod %s/%s is on node %q, not on this node %s", v.Pod.Namespace, v.Pod.Name, strings.Join(nodes, ","), vc.nodeName)
	}
	// The token says which pod; the pod says where it runs now.
	pod, err := vc.kube.CoreV1().Pods(v.Pod.Namespace).Get(ctx, v.Pod.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return refusef(codes.PermissionDenied, "pod %s/%s does not exist", v.Pod.Namespace, v.Pod.Name)
	}
	if err != nil {
		return refusef(codes.Unavailable, "reading pod %s/%s: %v", v.Pod.Namespace, v.Pod.Name, err)
	}
	switch {
	case pod.UID != v.Pod.UID:
		return refusef(codes.PermissionDenied, "pod %s/%s has UID %s, not %s", v.Pod.Namespace, v.Pod.Name, pod.UID, v.Pod.UID)
	case pod.Spec.NodeName != vc.nodeName:
		return refusef(codes.PermissionDenied, "pod %s/%s is on node %q, not on this node %s", v.Pod.Namespace, v.Pod.Name, pod.Spec.NodeName, vc.nodeName)
	case pod.Spec.ServiceAccountName != v.Pod.ServiceAccount:
		return refusef(codes.PermissionDenied, "pod %s/%s runs as %s, not %s", v.Pod.Namespace, v.Pod.Name, pod.Spec.ServiceAccountName, v.Pod.ServiceAccount)
	}
	return nil
}

func extraIs(extra map[string]authenticationv1.ExtraValue, key, want string) bool {
	return slices.Equal(extra[key], authenticationv1.ExtraValue{want})
}
