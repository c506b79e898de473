package connector

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	"github.com/oci-connector/oci-connector/pkg/apis/config"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
)

// resolveSink turns spec.sink into a URI. A sink that cannot be resolved must
// not keep the proxy from serving pulls: the proxy runs without one and the
// user gets a warning.
func (r *Reconciler) resolveSink(ctx context.Context, c *v1alpha1.Connector, spec *v1alpha1.ConnectorSpec) string {
	if spec.Sink == nil {
		return ""
	}
	dest := *spec.Sink.DeepCopy()
	if dest.Ref != nil && dest.Ref.Namespace == "" {
		dest.Ref.Namespace = c.Namespace
	}
	// A namespaced Connector acts in its own namespace: it may not make the
	// controller read another namespace's Addressables. A cluster Connector
	// may, as the two tiers of trust allow.
	if dest.Ref != nil && dest.Ref.Namespace != c.Namespace && !config.FromContextOrDefaults(ctx).Tenancy.IsCluster(c.Namespace) {
		controllerEvent(ctx, c, corev1.EventTypeWarning, "SinkNotResolved",
			"Sink not resolved, events are not sent: spec.sink.ref may name only namespace %q, not %q; name another namespace's sink (such as the audit function) with spec.sink.uri",
			c.Namespace, dest.Ref.Namespace)
		return ""
	}
	uri, err := r.resolveDestination(ctx, dest, c)
	if err != nil {
		controllerEvent(ctx, c, corev1.EventTypeWarning, "SinkNotResolved", "Sink not resolved, events are not sent: %v", err)
		return ""
	}
	return uri.String()
}

// resolveDestination resolves dest with Knative's resolver, which reads
// any Addressable (RBAC: the aggregated addressable-resolver role). A ref
// that names only its group gets the group's preferred version first.
func (r *Reconciler) resolveDestination(ctx context.Context, dest duckv1.Destination, c *v1alpha1.Connector) (*apis.URL, error) {
	if dest.Ref != nil && dest.Ref.APIVersion == "" && dest.Ref.Group != "" {
		version, err := r.preferredVersion(dest.Ref.Group)
		if err != nil {
			return nil, err
		}
		dest.Ref.APIVersion = version
	}
	return r.sinkResolver.URIFromDestinationV1(ctx, dest, c)
}

// preferredVersion is the group/version the API server prefers for group.
func (r *Reconciler) preferredVersion(group string) (string, error) {
	groups, err := r.kubeClient.Discovery().ServerGroups()
	if err != nil {
		return "", fmt.Errorf("discovering API group %q: %w", group, err)
	}
	for _, g := range groups.Groups {
		if g.Name == group {
			return g.PreferredVersion.GroupVersion, nil
		}
	}
	return "", fmt.Errorf("the API server serves no group %q", group)
}
