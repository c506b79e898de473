package connector

import (
	"context"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"knative.dev/pkg/logging"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/events"
)

// arrivalWindow is how new an object must be to count as having just
// appeared: the informers' first listing at start-up replays every old one.
const arrivalWindow = time.Minute

// expiringRecheck is how soon a Connector whose pull secrets are due is
// looked at again, while tokenrefresh renews them.
const expiringRecheck = 30 * time.Second

// scheduleRenewal asks for a refresh when the earliest of the Connector's
// pull secrets is due for renewal, and otherwise comes back at that moment.
func (r *Reconciler) scheduleRenewal(ctx context.Context, c *v1alpha1.Connector, spec *v1alpha1.ConnectorSpec, sink string) {
	if spec.PullSecrets == nil {
		return
	}
	secrets, err := r.secretLister.List(labels.SelectorFromSet(labels.Set{
		connectorapi.PullSecretConnectorNamespaceLabel: c.Namespace,
		connectorapi.PullSecretConnectorNameLabel:      c.Name,
	}))
	if err != nil {
		logging.FromContext(ctx).Warnw("Cannot list pull secrets", "error", err)
		return
	}
	var earliest time.Time
	for _, s := range secrets {
		t, err := time.Parse(time.RFC3339, s.Annotations[connectorapi.PullSecretExpiresAnnotation])
		if err == nil && (earliest.IsZero() || t.Before(earliest)) {
			earliest = t
		}
	}
	if earliest.IsZero() {
		return
	}
	due := earliest.Add(-spec.PullSecrets.RefreshBefore.Duration).Sub(r.clock())
	if due > 0 {
		r.enqueueAfter(c, due)
		return
	}
	r.cloudEvents.send(ctx, sink, c, events.PullSecretsRefresh, events.RefreshData{
		Connector: c.Name, Namespace: c.Namespace, Reason: events.RefreshExpiring,
	})
	r.enqueueAfter(c, expiringRecheck)
}

// serviceAccountAdded tells, through their sinks, the Connectors whose
// pullSecrets select a ServiceAccount that has just appeared.
func (r *Reconciler) serviceAccountAdded(ctx context.Context, obj any) {
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok || r.clock().Sub(sa.CreationTimestamp.Time) > arrivalWindow {
		return
	}
	ns, err := r.namespaceLister.Get(sa.Namespace)
	if err != nil {
		return
	}
	r.announce(ctx, ns, func(ps *v1alpha1.PullSecretsSpec) bool {
		return slices.Contains(ps.ServiceAccounts, "*") || slices.Contains(ps.ServiceAccounts, sa.Name)
	}, events.RefreshServiceAccountAdded, sa.Namespace+"/"+sa.Name)
}

// namespaceAdded does the same for a Namespace that has just appeared.
func (r *Reconciler) namespaceAdded(ctx context.Context, obj any) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok || r.clock().Sub(ns.CreationTimestamp.Time) > arrivalWindow {
		return
	}
	r.announce(ctx, ns, func(*v1alpha1.PullSecretsSpec) bool { return true }, events.RefreshNamespaceAdded, "")
}

// announce sends pullsecrets.refresh for each Connector whose pullSecrets
// select ns and pass match.
func (r *Reconciler) announce(ctx context.Context, ns *corev1.Namespace, match func(*v1alpha1.PullSecretsSpec) bool, reason, serviceAccount string) {
	all, err := r.connectorLister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, c := range all {
		if c.Spec.PullSecrets == nil || c.Status.SinkURI == nil {
			continue
		}
		ps := c.Spec.WithDefaults().PullSecrets
		if !selectsNamespace(c, ps, ns) || !match(ps) {
			continue
		}
		r.cloudEvents.send(ctx, c.Status.SinkURI.String(), c, events.PullSecretsRefresh, events.RefreshData{
			Connector: c.Name, Namespace: c.Namespace, Reason: reason, ServiceAccount: serviceAccount,
		})
	}
}

// selectsNamespace says whether the pullSecrets of c cover ns: the
// Connector's own namespace without a selector.
func selectsNamespace(c *v1alpha1.Connector, ps *v1alpha1.PullSecretsSpec, ns *corev1.Namespace) bool {
	if ps.NamespaceSelector == nil {
		return ns.Name == c.Namespace
	}
	selector, err := metav1.LabelSelectorAsSelector(ps.NamespaceSelector)
	return err == nil && selector.Matches(labels.Set(ns.Labels))
}
