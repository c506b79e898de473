// Package connector is the Connector reconciler: it resolves the upstream
// Secret, checks the upstream, and keeps the proxy's Knative Service.
package connector

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrs "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corev1listers "k8s.io/client-go/listers/core/v1"
	rbacv1listers "k8s.io/client-go/listers/rbac/v1"
	"k8s.io/utils/clock"
	"k8s.io/utils/lru"
	"knative.dev/pkg/apis"
	"knative.dev/pkg/controller"
	"knative.dev/pkg/kmap"
	"knative.dev/pkg/kmp"
	"knative.dev/pkg/logging"
	pkgreconciler "knative.dev/pkg/reconciler"
	"knative.dev/pkg/resolver"
	"knative.dev/pkg/tracker"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	servingclientset "knative.dev/serving/pkg/client/clientset/versioned"
	servinglisters "knative.dev/serving/pkg/client/listers/serving/v1"

	"go.uber.org/zap"

	"github.com/oci-connector/oci-connector/pkg/apis/config"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	connectorreconciler "github.com/oci-connector/oci-connector/pkg/client/injection/reconciler/connector/v1alpha1/connector"
	connectorlisters "github.com/oci-connector/oci-connector/pkg/client/listers/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/credentials"
	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/reconcilers/connector/resources"
	"github.com/oci-connector/oci-connector/reconcilers/connector/upstream"
)

// Reconciler keeps one Connector's proxy running and its status true.
type Reconciler struct {
	kubeClient               kubernetes.Interface
	servingClient            servingclientset.Interface
	secretLister             corev1listers.SecretLister
	serviceLister            servinglisters.ServiceLister
	serviceAccountLister     corev1listers.ServiceAccountLister
	clusterRoleBindingLister rbacv1listers.ClusterRoleBindingLister
	tracker                  tracker.Interface
	connectorLister          connectorlisters.ConnectorLister
	namespaceLister          corev1listers.NamespaceLister
	sinkResolver             *resolver.URIResolver
	// senders deliver the controller's CloudEvents; nil sends none.
	senders *events.Senders
	// refreshed records, by Connector UID, when its pull secrets were last
	// refreshed.
	refreshed *lru.Cache

	checker       upstream.Checker
	checks        *checkResults
	cacheChecks   *checkResults
	secretDigests *secretDigests

	settings Settings
	// servingDefaults caps the proxy's request timeout.
	servingDefaults *servingDefaults
	clock           clock.PassiveClock
	// resolver looks up upstream hosts for the upstream-allowed rule; the
	// system's when nil.
	resolver config.Resolver
}

// Check that our Reconciler implements the generated interface.
var _ connectorreconciler.Interface = (*Reconciler)(nil)

// digestPrefixLength is how much of the Secret's digest a
// credentials.rotated event carries: enough to tell rotations apart.
const digestPrefixLength = 8

// ReconcileKind implements connectorreconciler.Interface.
func (r *Reconciler) ReconcileKind(ctx context.Context, c *v1alpha1.Connector) pkgreconciler.Event {
	spec := c.Spec.WithDefaults()
	storedProxy := proxyState(c) // before this reconcile changes the status
	c.Status.Audience = c.Audience()
	tenancy := config.FromContextOrDefaults(ctx).Tenancy
	if spec.PullSecrets != nil && !tenancy.IsCluster(c.Namespace) &&
		!config.SelectsOnlyHome(spec.PullSecrets.NamespaceSelector, c.Namespace) {
		// Admission refuses this; the ConfigMap changed since.
		c.Status.MarkPullSecretsBeyondScope(c.Namespace)
	} else {
		c.Status.ClearPullSecretsScope()
	}

	if err := r.upstreamAllowed(ctx, c, spec); err != nil {
		return err
	}
	secret, creds, err := r.resolveSecret(ctx, c, spec)
	if err != nil {
		return err
	}
	c.Status.MarkSecretResolved()
	secretDigest := r.secretDigests.Of(secret)

	r.checkUpstream(ctx, c, spec, secret, secretDigest, creds)

	if err := r.reconcileProxyIdentity(ctx, c); err != nil {
		return err
	}
	cacheSecretDigest, err := r.checkCache(ctx, c, spec)
	if err != nil {
		return err
	}
	sink := r.resolveSink(ctx, c, spec)
	c.Status.SinkURI, _ = apis.ParseURL(sink)
	ksvc, err := r.reconcileService(ctx, c, spec, secretDigest, cacheSecretDigest, sink)
	if err != nil {
		return err
	}
	c.Status.PropagateServiceStatus(ksvc)

	// Come back for the next upstream check, or sooner when a pull secret
	// is due.
	next := r.settings.RecheckInterval
	if due := r.refreshPullSecrets(ctx, c, spec, sink, storedProxy); due > 0 {
		next = min(next, due)
	}
	return controller.NewRequeueAfter(next)
}

// resolveSecret reads the upstream credentials. When that fails it marks
// SecretResolved False and returns the event to report.
func (r *Reconciler) resolveSecret(ctx context.Context, c *v1alpha1.Connector, spec *v1alpha1.ConnectorSpec) (*corev1.Secret, credentials.Basic, pkgreconciler.Event) {
	name := spec.Auth.SecretRef.Name
	// Track first, so that a Secret created later wakes this Connector up.
	if err := r.tracker.TrackReference(tracker.Reference{
		APIVersion: "v1", Kind: "Secret", Namespace: c.Namespace, Name: name,
	}, c); err != nil {
		return nil, credentials.Basic{}, fmt.Errorf("tracking Secret %q: %w", name, err)
	}
	secret, err := r.secretLister.Secrets(c.Namespace).Get(name)
	if apierrs.IsNotFound(err) {
		c.Status.MarkSecretNotResolved(v1alpha1.ReasonSecretNotFound,
			"Secret %q not found in namespace %q; create it with the keys username and password.", name, c.Namespace)
		return nil, credentials.Basic{}, pkgreconciler.NewEvent(corev1.EventTypeWarning, v1alpha1.ReasonSecretNotFound,
			"Secret %q not found", name)
	} else if err != nil {
		return nil, credentials.Basic{}, fmt.Errorf("reading Secret %q: %w", name, err)
	}
	creds, err := credentials.FromSecretData(secret.Data, upstreamHost(spec.Address))
	if err != nil {
		// The error names keys and hosts only, never values.
		c.Status.MarkSecretNotResolved(v1alpha1.ReasonSecretKeyMissing, "Secret %q: %v.", name, err)
		return nil, credentials.Basic{}, pkgreconciler.NewEvent(corev1.EventTypeWarning, v1alpha1.ReasonSecretKeyMissing,
			"Secret %q: %v", name, err)
	}
	return secret, creds, nil
}

// checkUpstream sets UpstreamAuthenticated, calling the registry only when the
// inputs changed or the last check is older than the re-check interval.
func (r *Reconciler) checkUpstream(ctx context.Context, c *v1alpha1.Connector, spec *v1alpha1.ConnectorSpec, secret *corev1.Secret, secretDigest string, creds credentials.Basic) {
	target := upstream.Target{
		Address:            spec.Address,
		Credentials:        creds,
		Repository:         resources.RepositoryScope(spec),
		CAPEM:              secret.Data[credentials.KeyCACert],
		InsecureSkipVerify: spec.InsecureSkipTLSVerify,
	}
	// Everything the check reads comes from the spec (its generation) or the
	// Secret (its digest).
	inputs := fmt.Sprintf("%d|%s", c.Generation, secretDigest)
	now := r.clock.Now()
	err, cached := r.checks.Get(c.UID, inputs, now, r.settings.RecheckInterval)
	if !cached {
		err = r.checker.Check(ctx, target)
		r.checks.Put(c.UID, inputs, now, err)
		if err != nil {
			logging.FromContext(ctx).Warnw("Upstream check failed", zap.String("address", spec.Address), zap.Error(err))
		}
	}
	if err == nil {
		c.Status.MarkUpstreamAuthenticated()
		return
	}
	reason := upstreamReason(err)
	// Report only a change, not every periodic re-check of the same failure.
	if prev := c.Status.GetCondition(v1alpha1.ConditionUpstreamAuthenticated); prev == nil || prev.Reason != reason {
		controllerEvent(ctx, c, corev1.EventTypeWarning, reason, "Upstream %s: %v", spec.Address, err)
	}
	c.Status.MarkUpstreamNotAuthenticated(reason, "%v", err)
}

func upstreamReason(err error) string {
	switch {
	case errors.Is(err, upstream.ErrTLS):
		return v1alpha1.ReasonTLSError
	case errors.Is(err, upstream.ErrUnauthorized):
		return v1alpha1.ReasonUnauthorized
	case errors.Is(err, upstream.ErrRepositoryNotFound):
		return v1alpha1.ReasonRepositoryNotFound
	case errors.Is(err, upstream.ErrUnreachable):
		return v1alpha1.ReasonUnreachable
	default:
		return v1alpha1.ReasonUpstreamError
	}
}

// reconcileService creates the proxy's Knative Service, or puts it back to
// the desired spec when it drifted.
func (r *Reconciler) reconcileService(ctx context.Context, c *v1alpha1.Connector, spec *v1alpha1.ConnectorSpec, secretDigest, cacheSecretDigest, sink string) (*servingv1.Service, error) {
	timeout := r.servingDefaults.requestTimeout(r.settings.TimeoutSeconds)
	r.markRequestTimeout(ctx, c, timeout)
	desired := resources.MakeService(c, spec, resources.ServiceArgs{
		Image:            r.settings.ProxyImage,
		TimeoutSeconds:   timeout,
		SecretDigest:     secretDigest,
		SinkURI:          sink,
		AuditURL:         r.settings.AuditURL,
		ForwardedHops:    r.settings.ProxyForwardedHops,
		ClusterConnector: config.FromContextOrDefaults(ctx).Tenancy.IsCluster(c.Namespace),

		CacheSecretDigest: cacheSecretDigest,
	})

	existing, err := r.serviceLister.Services(c.Namespace).Get(desired.Name)
	if apierrs.IsNotFound(err) {
		created, err := r.servingClient.ServingV1().Services(c.Namespace).Create(ctx, desired, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("creating Service %q: %w", desired.Name, err)
		}
		controllerEvent(ctx, c, corev1.EventTypeNormal, "ServiceCreated", "Created proxy Service %q", desired.Name)
		return created, nil
	} else if err != nil {
		return nil, fmt.Errorf("reading Service %q: %w", desired.Name, err)
	}
	if !metav1.IsControlledBy(existing, c) {
		c.Status.MarkProxyNotOwned(desired.Name)
		return nil, fmt.Errorf("connector %q does not own Service %q", c.Name, desired.Name)
	}
	if serviceMatches(desired, existing) {
		return existing, nil
	}

	want := existing.DeepCopy()
	want.Spec = desired.Spec
	want.Labels = kmap.Union(want.Labels, desired.Labels)
	if diff, err := kmp.SafeDiff(existing.Spec, want.Spec); err == nil && diff != "" {
		logging.FromContext(ctx).Infow("Reconciling the proxy Service's drift", zap.String("service", desired.Name), zap.String("diff", diff))
	}
	updated, err := r.servingClient.ServingV1().Services(c.Namespace).Update(ctx, want, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("updating Service %q: %w", desired.Name, err)
	}
	oldDigest := existing.Spec.Template.Annotations[resources.SecretDigestAnnotation]
	if newDigest := desired.Spec.Template.Annotations[resources.SecretDigestAnnotation]; oldDigest != "" && oldDigest != newDigest {
		controllerEvent(ctx, c, corev1.EventTypeNormal, "CredentialsRotated",
			"Secret %q changed; rolling a new proxy revision", spec.Auth.SecretRef.Name)
		r.emit(ctx, c.Namespace, c.Name, events.CredentialsRotated, events.CredentialsData{
			Connector: c.Name, Namespace: c.Namespace, Secret: spec.Auth.SecretRef.Name,
			DigestPrefix: newDigest[:min(len(newDigest), digestPrefixLength)],
		}, sink)
	}
	controllerEvent(ctx, c, corev1.EventTypeNormal, "ServiceUpdated", "Updated proxy Service %q", desired.Name)
	return updated, nil
}

// markRequestTimeout says whether the proxy got the request timeout the
// controller wants, and names the fix when Knative's maximum is lower.
func (r *Reconciler) markRequestTimeout(ctx context.Context, c *v1alpha1.Connector, timeout int64) {
	want := r.settings.TimeoutSeconds
	if timeout >= want {
		c.Status.MarkRequestTimeoutGranted()
		return
	}
	var before string
	if prev := c.Status.GetCondition(v1alpha1.ConditionRequestTimeout); prev != nil && prev.Status == corev1.ConditionFalse {
		before = prev.Message
	}
	c.Status.MarkRequestTimeoutLimited(r.settings.ServingNamespace, timeout, want)
	// An event when it starts or changes, not at every resync.
	if now := c.Status.GetCondition(v1alpha1.ConditionRequestTimeout).Message; now != before {
		controllerEvent(ctx, c, corev1.EventTypeWarning, v1alpha1.ReasonLimitedByKnative, "%s", now)
	}
}

// serviceMatches says whether existing already has everything desired asks
// for. DeepDerivative ignores fields that Knative's defaulting filled in.
func serviceMatches(desired, existing *servingv1.Service) bool {
	if !equality.Semantic.DeepDerivative(desired.Spec, existing.Spec) {
		return false
	}
	for k, v := range desired.Labels {
		if existing.Labels[k] != v {
			return false
		}
	}
	return true
}

// upstreamHost is the address's host[:port], as dockerconfigjson keys name it.
func upstreamHost(address string) string {
	u, err := url.Parse(address)
	if err != nil {
		return address
	}
	return u.Host
}

// controllerEvent records a Kubernetes event on the Connector.
func controllerEvent(ctx context.Context, c *v1alpha1.Connector, eventType, reason, messageFormat string, args ...interface{}) {
	controller.GetEventRecorder(ctx).Eventf(c, eventType, reason, messageFormat, args...)
}
