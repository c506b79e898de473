package connector

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrs "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
	"knative.dev/pkg/logging"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/pkg/pullsecrets"
)

// The controller alone decides when a Connector's pull secrets are looked
// at: it sends pullsecrets.refresh to tokenrefresh (and, for the record, to
// the Connector's sink) when the Connector changes, when a selected
// ServiceAccount or Namespace appears, a namespace's labels change or a
// RoleBinding grants or revokes pull, when
// the earliest token is due, when the Connector is deleted, and at every
// periodic resync. tokenrefresh does what the event asks and keeps no
// schedule of its own.

// arrivalWindow is how new an object must be to count as having just
// appeared: the informers' first listing at start-up replays every old one.
const arrivalWindow = time.Minute

// expiringRecheck is how soon a Connector whose pull secrets are due is
// looked at again, while tokenrefresh renews them.
const expiringRecheck = 30 * time.Second

// refreshedCacheSize bounds the record of when each Connector's pull secrets
// were last refreshed.
const refreshedCacheSize = 4096

// refreshPullSecrets asks tokenrefresh for a refresh when one is called for,
// and says when the Connector should be looked at again for its pull
// secrets (zero: no need). storedProxy is the proxy's state as the stored
// status says (proxyState before this reconcile changed it): what
// tokenrefresh will read is the stored status, not the one this reconcile
// is still writing, so that the event follows the status update rather
// than racing it.
func (r *Reconciler) refreshPullSecrets(ctx context.Context, c *v1alpha1.Connector, spec *v1alpha1.ConnectorSpec, sink, storedProxy string) time.Duration {
	secrets, err := r.secretLister.List(labels.SelectorFromSet(pullsecrets.Labels(c.Namespace, c.Name)))
	if err != nil {
		logging.FromContext(ctx).Warnw("Cannot list pull secrets", "error", err)
		return 0
	}
	if spec.PullSecrets == nil && len(secrets) == 0 {
		return 0
	}
	now := r.clock.Now()
	var due time.Time
	if spec.PullSecrets != nil {
		due = earliestRenewal(secrets, spec.PullSecrets.RefreshBefore.Duration)
	}
	proxy := storedProxy
	var last lastRefresh
	if v, ok := r.refreshed.Get(c.UID); ok {
		last = v.(lastRefresh)
	}
	var reason string
	switch {
	case c.Status.ObservedGeneration != c.Generation:
		reason = events.RefreshConnectorChanged
	case !last.at.IsZero() && last.proxy != proxy:
		// Ready now (or no longer), or reachable at another URL: the
		// pull secrets name the proxy's hosts.
		reason = events.RefreshProxyChanged
	case !due.IsZero() && !due.After(now):
		reason = events.RefreshExpiring
	// Slightly less than the interval, so that the periodic requeue finds
	// it due rather than a moment early.
	case last.at.IsZero() || now.Sub(last.at) >= r.settings.RecheckInterval*9/10:
		reason = events.RefreshResync
	}
	if reason != "" {
		r.emit(ctx, c.Namespace, c.Name, events.PullSecretsRefresh, events.RefreshData{
			Connector: c.Name, Namespace: c.Namespace, Reason: reason,
		}, r.settings.TokenRefreshURL, sink)
		r.refreshed.Add(c.UID, lastRefresh{at: now, proxy: proxy})
	}
	switch {
	case due.IsZero():
		return 0
	case due.After(now):
		return due.Sub(now)
	default:
		return expiringRecheck
	}
}

// lastRefresh is when the controller last asked for a Connector's refresh,
// and the proxy's state then.
type lastRefresh struct {
	at    time.Time
	proxy string
}

// proxyState is what of the Connector's status its pull secrets depend on:
// whether it is Ready (tokenrefresh writes none before), and the proxy's
// addresses (the secrets log in to them).
func proxyState(c *v1alpha1.Connector) string {
	state := fmt.Sprintf("ready=%t url=%s", c.Status.IsReady(), c.Status.URL)
	if c.Status.Address != nil {
		state += " address=" + c.Status.Address.URL.String()
	}
	return state
}

// earliestRenewal is when the first of secrets is due for renewal; zero for none.
func earliestRenewal(secrets []*corev1.Secret, refreshBefore time.Duration) time.Time {
	var earliest time.Time
	for _, s := range secrets {
		t := pullsecrets.ExpiresAt(s)
		if !t.IsZero() && (earliest.IsZero() || t.Before(earliest)) {
			earliest = t
		}
	}
	if earliest.IsZero() {
		return earliest
	}
	return earliest.Add(-refreshBefore)
}

// serviceAccountAdded asks for a refresh of the Connectors whose
// pullSecrets select a ServiceAccount that has just appeared.
func (r *Reconciler) serviceAccountAdded(ctx context.Context, obj any) {
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok || r.clock.Since(sa.CreationTimestamp.Time) > arrivalWindow {
		return
	}
	ns, err := r.namespaceLister.Get(sa.Namespace)
	if err != nil {
		return
	}
	r.announce(ctx, func(c *v1alpha1.Connector, ps *v1alpha1.PullSecretsSpec) bool {
		return selectsNamespace(c, ps, ns) &&
			(slices.Contains(ps.ServiceAccounts, "*") || slices.Contains(ps.ServiceAccounts, sa.Name))
	}, events.RefreshServiceAccountAdded, sa.Namespace+"/"+sa.Name)
}

// namespaceAdded does the same for a Namespace that has just appeared.
func (r *Reconciler) namespaceAdded(ctx context.Context, obj any) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok || r.clock.Since(ns.CreationTimestamp.Time) > arrivalWindow {
		return
	}
	r.announce(ctx, func(c *v1alpha1.Connector, ps *v1alpha1.PullSecretsSpec) bool {
		return selectsNamespace(c, ps, ns)
	}, events.RefreshNamespaceAdded, "")
}

// namespaceUpdated asks for a refresh of the Connectors whose selector
// matched a namespace before its labels changed and no longer does, or the
// other way round.
func (r *Reconciler) namespaceUpdated(ctx context.Context, oldObj, newObj any) {
	before, ok1 := oldObj.(*corev1.Namespace)
	after, ok2 := newObj.(*corev1.Namespace)
	if !ok1 || !ok2 || labels.Equals(before.Labels, after.Labels) {
		return
	}
	r.announce(ctx, func(c *v1alpha1.Connector, ps *v1alpha1.PullSecretsSpec) bool {
		return selectsNamespace(c, ps, before) != selectsNamespace(c, ps, after)
	}, events.RefreshNamespaceChanged, "")
}

// bindingEvents ask for a refresh when a RoleBinding or ClusterRoleBinding
// appears, changes whom it grants what, or goes: it may grant or revoke pull
// on a Connector. A RoleBinding grants on the Connectors of its own
// namespace; a ClusterRoleBinding may grant on any.
func (r *Reconciler) bindingEvents(ctx context.Context) cache.ResourceEventHandler {
	announce := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if b, ok := obj.(metav1.Object); ok {
			namespace := b.GetNamespace()
			r.announce(ctx, func(c *v1alpha1.Connector, _ *v1alpha1.PullSecretsSpec) bool {
				return namespace == "" || c.Namespace == namespace
			}, events.RefreshRBACChanged, "")
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			// Not the old ones the informer replays at start-up.
			if b, ok := obj.(metav1.Object); ok && r.clock.Since(b.GetCreationTimestamp().Time) <= arrivalWindow {
				announce(obj)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			if bindingDiffers(oldObj, newObj) {
				announce(newObj)
			}
		},
		DeleteFunc: announce,
	}
}

// bindingDiffers says whether an update changed whom a binding grants what.
func bindingDiffers(oldObj, newObj any) bool {
	switch before := oldObj.(type) {
	case *rbacv1.RoleBinding:
		after, ok := newObj.(*rbacv1.RoleBinding)
		return !ok || !equality.Semantic.DeepEqual(before.Subjects, after.Subjects) || before.RoleRef != after.RoleRef
	case *rbacv1.ClusterRoleBinding:
		after, ok := newObj.(*rbacv1.ClusterRoleBinding)
		return !ok || !equality.Semantic.DeepEqual(before.Subjects, after.Subjects) || before.RoleRef != after.RoleRef
	}
	return true
}

// announce sends pullsecrets.refresh for each Connector with pullSecrets
// that match accepts.
func (r *Reconciler) announce(ctx context.Context, match func(*v1alpha1.Connector, *v1alpha1.PullSecretsSpec) bool, reason, serviceAccount string) {
	all, err := r.connectorLister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, c := range all {
		if c.Spec.PullSecrets == nil || !match(c, c.Spec.WithDefaults().PullSecrets) {
			continue
		}
		var sink string
		if c.Status.SinkURI != nil {
			sink = c.Status.SinkURI.String()
		}
		r.emit(ctx, c.Namespace, c.Name, events.PullSecretsRefresh, events.RefreshData{
			Connector: c.Name, Namespace: c.Namespace, Reason: reason, ServiceAccount: serviceAccount,
		}, r.settings.TokenRefreshURL, sink)
	}
}

// connectorDeleted asks tokenrefresh to remove a deleted Connector's pull
// secrets, and tells its sink.
func (r *Reconciler) connectorDeleted(ctx context.Context, c *v1alpha1.Connector) {
	r.refreshed.Remove(c.UID)
	if c.Spec.PullSecrets == nil {
		return
	}
	var sink string
	if c.Status.SinkURI != nil {
		sink = c.Status.SinkURI.String()
	}
	r.emit(ctx, c.Namespace, c.Name, events.PullSecretsRefresh, events.RefreshData{
		Connector: c.Name, Namespace: c.Namespace, Reason: events.RefreshConnectorDeleted,
	}, r.settings.TokenRefreshURL, sink)
}

// pullSecretSeen wakes the Connector a pull secret belongs to, so that it
// schedules the secret's renewal; a pull secret whose Connector is gone (its
// deletion was missed) is reported to tokenrefresh for removal.
func (r *Reconciler) pullSecretSeen(ctx context.Context, obj any, enqueue func(namespace, name string)) {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return
	}
	namespace, name, ok := pullsecrets.ConnectorOf(s)
	if !ok {
		return
	}
	if _, err := r.connectorLister.Connectors(namespace).Get(name); apierrs.IsNotFound(err) {
		r.emit(ctx, namespace, name, events.PullSecretsRefresh, events.RefreshData{
			Connector: name, Namespace: namespace, Reason: events.RefreshConnectorDeleted,
		}, r.settings.TokenRefreshURL)
		return
	}
	enqueue(namespace, name)
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
