package install

import (
	"context"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
)

// The install's minters hold create on serviceaccounts/token cluster-wide;
// config/200-tokenrequest-policy.yaml narrows what they may mint, on the
// real API server: a Connector's audience only, never for kube-system or
// the install namespace, and for the CSI driver only bound to a pod. Their
// real paths still work.
func TestMintingIsNarrowedByPolicy(t *testing.T) {
	ctx := context.Background()
	ns := "minting"
	cluster.EnsureServiceAccount(t, ns, "app")
	cluster.EnsureServiceAccount(t, "kube-system", "replicaset-controller")
	pod, err := cluster.Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "builder"},
		Spec:       corev1.PodSpec{ServiceAccountName: "app", Containers: []corev1.Container{{Name: "c", Image: "registry.example.com/app"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	podRef := &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID}
	connectorAudience := v1alpha1.ConnectorAudience(ns, "harbor")

	for _, minter := range []struct {
		serviceAccount string
		// bound says whether its real path binds the token to a pod.
		bound bool
	}{
		{"oci-connector-csi", true},
		{"oci-connector-tokenrefresh", false},
	} {
		as := kubernetes.NewForConfigOrDie(cluster.ConfigAs(t, systemNamespace, minter.serviceAccount))
		mint := func(namespace, serviceAccount string, audiences []string, ref *authenticationv1.BoundObjectReference) error {
			_, err := as.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, serviceAccount, &authenticationv1.TokenRequest{
				Spec: authenticationv1.TokenRequestSpec{Audiences: audiences, BoundObjectRef: ref},
			}, metav1.CreateOptions{})
			return err
		}
		var realRef *authenticationv1.BoundObjectReference
		if minter.bound {
			realRef = podRef
		}
		// The policy takes effect once the API server has read it.
		waitFor(t, minter.serviceAccount+" refused a kube-system token", func(context.Context) (bool, string) {
			err := mint("kube-system", "replicaset-controller", []string{connectorAudience}, nil)
			return err != nil && strings.Contains(err.Error(), "oci-connector"), "minted: " + errString(err)
		})
		for _, tc := range []struct {
			name          string
			namespace, sa string
			audiences     []string
			ref           *authenticationv1.BoundObjectReference
			want          string
		}{
			{"its real path", ns, "app", []string{connectorAudience}, realRef, ""},
			{"for the API server's audience", ns, "app", nil, realRef, "exactly one audience"},
			{"for the node audience", ns, "app", []string{v1alpha1.NodeAudience}, realRef, "exactly one audience"},
			{"for the audit function", ns, "app", []string{"oci-connector.dev/audit"}, realRef, "exactly one audience"},
			{"for two audiences", ns, "app", []string{connectorAudience, "https://kubernetes.default.svc.cluster.local"}, realRef, "exactly one audience"},
			{"for kube-system", "kube-system", "replicaset-controller", []string{connectorAudience}, nil, "kube-system"},
			{"for the install namespace", systemNamespace, "oci-connector-controller", []string{connectorAudience}, nil, "kube-system or of its own namespace"},
		} {
			err := mint(tc.namespace, tc.sa, tc.audiences, tc.ref)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("%s, %s: %v; want %q", minter.serviceAccount, tc.name, err, tc.want)
			}
		}
		if minter.bound {
			if err := mint(ns, "app", []string{connectorAudience}, nil); err == nil || !strings.Contains(err.Error(), "bound to a Pod") {
				t.Errorf("%s, unbound: %v; want refused", minter.serviceAccount, err)
			}
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}
