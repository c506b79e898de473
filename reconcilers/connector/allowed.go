package connector

import (
	"context"
	"fmt"
	"net/url"

	corev1 "k8s.io/api/core/v1"
	apierrs "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	pkgreconciler "knative.dev/pkg/reconciler"

	"github.com/oci-connector/oci-connector/pkg/apis/config"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/reconcilers/connector/resources"
)

// upstreamAllowed stops a Connector whose address the cluster admin does
// not allow (upstream-allowed in config-oci-connector) before the
// controller connects to it: UpstreamAuthenticated is False with reason
// AddressNotAllowed, and a proxy Service made before the rule is removed,
// so no proxy reaches the address either. The returned event ends the
// reconcile.
func (r *Reconciler) upstreamAllowed(ctx context.Context, c *v1alpha1.Connector, spec *v1alpha1.ConnectorSpec) pkgreconciler.Event {
	u, err := url.Parse(spec.Address)
	if err != nil {
		return nil // validation refuses it; the upstream check says so
	}
	err = config.FromContextOrDefaults(ctx).Tenancy.AllowsUpstream(ctx, r.resolver, u.Hostname())
	if err == nil {
		return nil
	}
	c.Status.MarkUpstreamNotAuthenticated(v1alpha1.ReasonAddressNotAllowed, "%v", err)
	name := resources.ServiceName(c)
	existing, getErr := r.serviceLister.Services(c.Namespace).Get(name)
	if getErr == nil && metav1.IsControlledBy(existing, c) {
		if err := r.servingClient.ServingV1().Services(c.Namespace).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrs.IsNotFound(err) {
			return fmt.Errorf("removing the proxy Service %q of a Connector whose upstream is not allowed: %w", name, err)
		}
	}
	return pkgreconciler.NewEvent(corev1.EventTypeWarning, v1alpha1.ReasonAddressNotAllowed, "Upstream %s: %v", spec.Address, err)
}
