package connector

import (
	"context"
	"fmt"

	apierrs "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/reconcilers/connector/resources"
)

// reconcileProxyIdentity keeps the ServiceAccount the proxy runs as, owned by
// every Connector of the namespace, and the ClusterRoleBinding that lets it
// review tokens and access.
func (r *Reconciler) reconcileProxyIdentity(ctx context.Context, c *v1alpha1.Connector) error {
	sa, err := r.serviceAccountLister.ServiceAccounts(c.Namespace).Get(resources.ProxyServiceAccount)
	switch {
	case apierrs.IsNotFound(err):
		if _, err := r.kubeClient.CoreV1().ServiceAccounts(c.Namespace).Create(ctx, resources.MakeProxyServiceAccount(c), metav1.CreateOptions{}); err != nil && !apierrs.IsAlreadyExists(err) {
			return fmt.Errorf("creating ServiceAccount %q: %w", resources.ProxyServiceAccount, err)
		}
	case err != nil:
		return fmt.Errorf("reading ServiceAccount %q: %w", resources.ProxyServiceAccount, err)
	case !ownedBy(sa.OwnerReferences, c):
		want := sa.DeepCopy()
		want.OwnerReferences = append(want.OwnerReferences, resources.OwnerReference(c))
		if _, err := r.kubeClient.CoreV1().ServiceAccounts(c.Namespace).Update(ctx, want, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("adding the Connector as an owner of ServiceAccount %q: %w", resources.ProxyServiceAccount, err)
		}
	}

	name := resources.ProxyBindingName(c.Namespace)
	if _, err := r.clusterRoleBindingLister.Get(name); apierrs.IsNotFound(err) {
		if _, err := r.kubeClient.RbacV1().ClusterRoleBindings().Create(ctx, resources.MakeProxyBinding(c.Namespace), metav1.CreateOptions{}); err != nil && !apierrs.IsAlreadyExists(err) {
			return fmt.Errorf("creating ClusterRoleBinding %q: %w", name, err)
		}
	} else if err != nil {
		return fmt.Errorf("reading ClusterRoleBinding %q: %w", name, err)
	}
	return nil
}

func ownedBy(refs []metav1.OwnerReference, c *v1alpha1.Connector) bool {
	for _, ref := range refs {
		if ref.UID == c.UID {
			return true
		}
	}
	return false
}
