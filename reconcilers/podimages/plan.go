package podimages

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"knative.dev/pkg/apis"

	"github.com/oci-connector/oci-connector/pkg/access"
	"github.com/oci-connector/oci-connector/pkg/apis/config"
	"github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	connectorlisters "github.com/oci-connector/oci-connector/pkg/client/listers/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/imageref"
)

// rewrite is one container's image, pointed at a proxy.
type rewrite struct {
	field     string // JSON pointer to the container's image
	container string
	from, to  string
}

// deniedError is a refusal the pod's author can fix; its message says how.
type deniedError struct{ message string }

func (e *deniedError) Error() string { return e.message }

func denied(format string, a ...any) error {
	return &deniedError{message: fmt.Sprintf(format, a...)}
}

// proxyTarget is a Ready Connector: where its images come from and the proxy
// host they go to instead.
type proxyTarget struct {
	key      types.NamespacedName
	upstream string
	proxy    string
}

// plan works out the pod's rewrites: through the Connector its annotation
// names, or else, image by image, through the one Connector whose upstream
// is the image's registry. The pod's ServiceAccount must be allowed to pull
// through every Connector used.
func (r *reconciler) plan(ctx context.Context, namespace string, pod *corev1.Pod, ephemeral bool) ([]rewrite, error) {
	named, err := r.namedTarget(namespace, pod.Annotations)
	if err != nil {
		return nil, err
	}
	m := matcher{lister: r.connectorLister, namespace: namespace, trust: config.FromContextOrDefaults(ctx).Tenancy}
	var rewrites []rewrite
	var used []types.NamespacedName
	for _, c := range containersOf(pod, ephemeral) {
		t := named
		if t == nil {
			if t, err = m.target(c.image); err != nil {
				return nil, err
			}
			if t == nil {
				continue
			}
		}
		to, ok := imageref.Rewrite(c.image, t.upstream, t.proxy)
		if !ok {
			continue
		}
		rewrites = append(rewrites, rewrite{field: c.field, container: c.name, from: c.image, to: to})
		if !slices.Contains(used, t.key) {
			used = append(used, t.key)
		}
	}

	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	for _, key := range used {
		ok, _, err := r.reviewer.Allowed(ctx, access.ServiceAccount(namespace, sa), key, v1alpha1.VerbPull)
		if err != nil {
			return nil, fmt.Errorf("checking whether ServiceAccount %s/%s may pull through Connector %s: %w", namespace, sa, key, err)
		}
		if !ok {
			return nil, denied("ServiceAccount %s/%s may not pull through Connector %s; grant it with: %s",
				namespace, sa, key, access.GrantPull(namespace, sa, key))
		}
	}
	return rewrites, nil
}

// namedTarget is the Connector the pod's annotation names, or nil.
func (r *reconciler) namedTarget(namespace string, annotations map[string]string) (*proxyTarget, error) {
	annotation := connector.ConnectorAnnotation
	value, ok := annotations[annotation]
	if !ok {
		annotation = connector.CompatConnectorAnnotation
		if value, ok = annotations[annotation]; !ok {
			return nil, nil
		}
	}
	key := types.NamespacedName{Namespace: namespace, Name: value}
	if ns, name, found := strings.Cut(value, "/"); found {
		key = types.NamespacedName{Namespace: ns, Name: name}
	}
	if key.Namespace == "" || key.Name == "" || strings.Contains(key.Name, "/") {
		return nil, denied("annotation %s=%q: want <namespace>/<name> of a Connector, or <name> of one in the pod's namespace", annotation, value)
	}
	c, err := r.connectorLister.Connectors(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		return nil, denied("Connector %s, named by annotation %s, does not exist: create it, or correct the annotation", key, annotation)
	}
	if err != nil {
		return nil, fmt.Errorf("reading Connector %s: %w", key, err)
	}
	return targetOf(c)
}

// targetOf refuses a Connector that is not Ready: its proxy has no address
// yet, or its upstream or credentials do not work.
func targetOf(c *v1alpha1.Connector) (*proxyTarget, error) {
	key := types.NamespacedName{Namespace: c.Namespace, Name: c.Name}
	if !c.Status.IsReady() || c.Status.URL == nil {
		why := "it has no status yet"
		if cond := c.Status.GetCondition(apis.ConditionReady); cond != nil {
			why = fmt.Sprintf("%s: %s", cond.Reason, cond.Message)
		}
		return nil, denied("Connector %s is not Ready (%s); pods cannot pull through it until it is. See: kubectl describe connector -n %s %s",
			key, why, c.Namespace, c.Name)
	}
	upstream, err := imageref.RegistryHost(c.Spec.Address)
	if err != nil {
		return nil, denied("Connector %s has an unusable spec.address: %v", key, err)
	}
	proxy, err := imageref.RegistryHost(c.Status.URL.String())
	if err != nil {
		return nil, fmt.Errorf("status.url of Connector %s: %w", key, err)
	}
	return &proxyTarget{key: key, upstream: upstream, proxy: proxy}, nil
}

// matcher finds the Connector whose upstream is an image's registry for a
// pod's namespace, listing the Connectors once per pod. It considers the
// Ready Connectors of the pod's own namespace first, then the Ready cluster
// Connectors; a Connector of another tenant is never matched, and one that
// is not Ready is passed over rather than refusing the pod.
type matcher struct {
	lister     connectorlisters.ConnectorLister
	namespace  string
	trust      *config.Tenancy
	listed     bool
	connectors []*v1alpha1.Connector
}

// target is nil when no Connector the pod may be matched with serves image.
func (m *matcher) target(image string) (*proxyTarget, error) {
	host, ok := imageref.Registry(image)
	if !ok {
		return nil, nil
	}
	if !m.listed {
		all, err := m.lister.List(labels.Everything())
		if err != nil {
			return nil, fmt.Errorf("listing Connectors: %w", err)
		}
		m.connectors, m.listed = all, true
	}
	var own, cluster []*v1alpha1.Connector
	for _, c := range m.connectors {
		if !c.Status.IsReady() || c.Status.URL == nil {
			continue
		}
		if upstream, err := imageref.RegistryHost(c.Spec.Address); err != nil || upstream != host {
			continue
		}
		switch {
		case c.Namespace == m.namespace:
			own = append(own, c)
		case m.trust.MayServe(c.Namespace, m.namespace):
			cluster = append(cluster, c)
		}
	}
	matches := own
	if len(matches) == 0 {
		matches = cluster
	}
	switch len(matches) {
	case 0:
		return nil, nil
	case 1:
		return targetOf(matches[0])
	}
	names := make([]string, len(matches))
	for i, c := range matches {
		names[i] = c.Namespace + "/" + c.Name
	}
	slices.Sort(names)
	return nil, denied("image %q matches several Connectors (%s); choose one with the annotation %s: <namespace>/<name>",
		image, strings.Join(names, ", "), connector.ConnectorAnnotation)
}
