package resources

import (
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
)

// The proxies' identity. A proxy runs as ProxyServiceAccount in its
// Connector's namespace; the ClusterRole ProxyClusterRole (config/) lets it
// create TokenReviews and SubjectAccessReviews, and nothing else.
const (
	ProxyServiceAccount = "oci-connector-proxy"
	ProxyClusterRole    = "oci-connector-proxy"
)

// ProxyBindingName is the ClusterRoleBinding that gives a namespace's proxy
// ServiceAccount its ClusterRole. TokenReview and SubjectAccessReview are
// cluster-scoped, so a RoleBinding cannot grant them.
func ProxyBindingName(namespace string) string {
	return ProxyClusterRole + ":" + namespace
}

// MakeProxyServiceAccount builds the proxy ServiceAccount, owned by the
// Connector (not as controller: every Connector in the namespace shares it,
// and it goes when the last of them does).
func MakeProxyServiceAccount(c *v1alpha1.Connector) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{
			Name:            ProxyServiceAccount,
			Namespace:       c.Namespace,
			Labels:          map[string]string{managedByLabel: managedByValue, componentLabel: componentValue},
			OwnerReferences: []metav1.OwnerReference{OwnerReference(c)},
		},
		// The proxy talks to the API server with its own token only.
		AutomountServiceAccountToken: ptr.To(true),
	}
}

// MakeProxyBinding builds the ClusterRoleBinding for a namespace's proxy.
func MakeProxyBinding(namespace string) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{
			Name:   ProxyBindingName(namespace),
			Labels: map[string]string{managedByLabel: managedByValue, componentLabel: componentValue},
		},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: ProxyServiceAccount, Namespace: namespace}},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: ProxyClusterRole},
	}
}

// OwnerReference is a non-controller owner reference to the Connector.
func OwnerReference(c *v1alpha1.Connector) metav1.OwnerReference {
	gvk := c.GetGroupVersionKind()
	return metav1.OwnerReference{
		APIVersion:         gvk.GroupVersion().String(),
		Kind:               gvk.Kind,
		Name:               c.Name,
		UID:                c.UID,
		BlockOwnerDeletion: ptr.To(true),
	}
}
