package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"

	"github.com/oci-connector/oci-connector/pkg/access"
	apiconfig "github.com/oci-connector/oci-connector/pkg/apis/config"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	connectorclientset "github.com/oci-connector/oci-connector/pkg/client/clientset/versioned"
	"github.com/oci-connector/oci-connector/pkg/clientconfig"
	"github.com/oci-connector/oci-connector/pkg/pullsecrets"
)

// refresher keeps one Connector's pull secrets: one per selected
// ServiceAccount that may pull, with a fresh token, referenced from the
// ServiceAccount beside whatever pull secrets it already has. Every step is
// idempotent, so a duplicate event or a second replica changes nothing.
type refresher struct {
	kube       kubernetes.Interface
	connectors connectorclientset.Interface
	reviewer   *access.Reviewer
	logger     *zap.SugaredLogger
	clock      clock.PassiveClock
	// systemNamespace holds config-oci-connector.
	systemNamespace string
}

// result is what one refresh did.
type result struct {
	Written, Removed int
	// ServiceAccounts is how many hold a pull secret of the Connector now.
	ServiceAccounts int
	// Sink is the Connector's event sink; empty for none.
	Sink string
}

// refresh brings the pull secrets of the Connector key in line; a Connector
// that is gone, or no longer asks for pull secrets, loses them all.
func (r *refresher) refresh(ctx context.Context, key types.NamespacedName) (result, error) {
	var res result
	c, err := r.connectors.ConnectorV1alpha1().Connectors(key.Namespace).Get(ctx, key.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		c = &v1alpha1.Connector{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	} else if err != nil {
		return res, fmt.Errorf("reading Connector %s: %w", key, err)
	}

	if c.Status.SinkURI != nil {
		res.Sink = c.Status.SinkURI.String()
	}
	wanted, err := r.wanted(ctx, c)
	if err != nil {
		return res, err
	}
	spec := c.Spec.WithDefaults()
	for _, sa := range wanted {
		written, err := r.ensure(ctx, c, spec.PullSecrets, sa)
		if err != nil {
			return res, err
		}
		if written {
			res.Written++
		}
	}
	res.ServiceAccounts = len(wanted)
	removed, err := r.removeUnwanted(ctx, c, wanted)
	res.Removed = removed
	return res, err
}

// wanted lists the ServiceAccounts that should have a pull secret: in the
// selected namespaces, named by serviceAccounts, allowed to pull. None
// while the Connector's proxy has no address to log in to. A Connector
// that has one but is not Ready keeps its pull secrets: it may be
// mid-rotation of its upstream credentials, which the pull secrets do not
// hold, and its pods keep pulling through the proxy meanwhile.
func (r *refresher) wanted(ctx context.Context, c *v1alpha1.Connector) ([]*corev1.ServiceAccount, error) {
	if c.Spec.PullSecrets == nil || c.UID == "" || len(clientconfig.Endpoints(c)) == 0 {
		return nil, nil
	}
	tenancy, err := apiconfig.ReadTenancy(ctx, r.kube.CoreV1().ConfigMaps(r.systemNamespace))
	if err != nil {
		return nil, err
	}
	spec := c.Spec.WithDefaults().PullSecrets
	namespaces := []string{c.Namespace}
	// Only a cluster Connector reaches beyond its own namespace, and no
	// Connector reaches kube-system.
	if !tenancy.MayServe(c.Namespace, c.Namespace) {
		return nil, nil
	}
	if spec.NamespaceSelector != nil && tenancy.IsCluster(c.Namespace) {
		selector, err := metav1.LabelSelectorAsSelector(spec.NamespaceSelector)
		if err != nil {
			return nil, fmt.Errorf("namespaceSelector: %w", err)
		}
		list, err := r.kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
		if err != nil {
			return nil, fmt.Errorf("listing namespaces: %w", err)
		}
		namespaces = namespaces[:0]
		for _, ns := range list.Items {
			if tenancy.MayServe(c.Namespace, ns.Name) {
				namespaces = append(namespaces, ns.Name)
			}
		}
	}
	// Tokens are never minted in kube-system nor in the install namespace.
	namespaces = slices.DeleteFunc(namespaces, func(ns string) bool { return !apiconfig.MayMintIn(ns, r.systemNamespace) })
	all := slices.Contains(spec.ServiceAccounts, "*")
	var out []*corev1.ServiceAccount
	for _, ns := range namespaces {
		list, err := r.kube.CoreV1().ServiceAccounts(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing ServiceAccounts in %s: %w", ns, err)
		}
		for i := range list.Items {
			sa := &list.Items[i]
			if !all && !slices.Contains(spec.ServiceAccounts, sa.Name) {
				continue
			}
			ok, _, err := r.reviewer.Allowed(ctx, access.ServiceAccount(sa.Namespace, sa.Name),
				types.NamespacedName{Namespace: c.Namespace, Name: c.Name}, v1alpha1.VerbPull)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, sa)
			}
		}
	}
	return out, nil
}

// ensure gives sa a pull secret whose token is not due for renewal, and a
// reference to it; it says whether it wrote one.
func (r *refresher) ensure(ctx context.Context, c *v1alpha1.Connector, spec *v1alpha1.PullSecretsSpec, sa *corev1.ServiceAccount) (bool, error) {
	name := pullsecrets.Name(c, sa.Name)
	secrets := r.kube.CoreV1().Secrets(sa.Namespace)
	existing, err := secrets.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		existing = nil
	case err != nil:
		return false, fmt.Errorf("reading Secret %s/%s: %w", sa.Namespace, name, err)
	}
	written := false
	var expires time.Time
	if existing != nil {
		expires = pullsecrets.ExpiresAt(existing)
	}
	if expires.Sub(r.clock.Now()) <= spec.RefreshBefore.Duration {
		if err := r.write(ctx, c, spec, sa, existing); err != nil {
			return false, err
		}
		written = true
	}
	if !slices.Contains(sa.ImagePullSecrets, corev1.LocalObjectReference{Name: name}) {
		if err := r.reference(ctx, sa.Namespace, sa.Name, name); err != nil {
			return false, err
		}
	}
	return written, nil
}

// write mints a token and creates or replaces the pull secret.
func (r *refresher) write(ctx context.Context, c *v1alpha1.Connector, spec *v1alpha1.PullSecretsSpec, sa *corev1.ServiceAccount, existing *corev1.Secret) error {
	token, expires, err := pullsecrets.Mint(ctx, r.kube.CoreV1().ServiceAccounts(sa.Namespace), sa.Name, c, spec.TokenTTL.Duration, nil)
	if err != nil {
		return fmt.Errorf("minting a token for %s/%s: %w", sa.Namespace, sa.Name, err)
	}
	desired, err := pullsecrets.Make(c, sa, token, expires)
	if err != nil {
		return err
	}
	secrets := r.kube.CoreV1().Secrets(sa.Namespace)
	if existing == nil {
		if _, err = secrets.Create(ctx, desired, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
			// Another replica wrote it first: its token is as good as ours.
			return nil
		}
	} else {
		desired.ResourceVersion = existing.ResourceVersion
		if _, err = secrets.Update(ctx, desired, metav1.UpdateOptions{}); apierrors.IsConflict(err) {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("writing Secret %s/%s: %w", sa.Namespace, desired.Name, err)
	}
	r.logger.Infow("Wrote a pull secret", "namespace", sa.Namespace, "serviceAccount", sa.Name, "secret", desired.Name, "expires", expires)
	return nil
}

// reference adds secret to the ServiceAccount's imagePullSecrets, leaving the
// others alone.
func (r *refresher) reference(ctx context.Context, namespace, serviceAccount, secret string) error {
	return r.updateServiceAccount(ctx, namespace, serviceAccount, func(refs []corev1.LocalObjectReference) []corev1.LocalObjectReference {
		if slices.Contains(refs, corev1.LocalObjectReference{Name: secret}) {
			return nil
		}
		return append(refs, corev1.LocalObjectReference{Name: secret})
	})
}

// updateServiceAccount applies change to the imagePullSecrets of a
// ServiceAccount, retrying on conflicts; a nil result means no change.
func (r *refresher) updateServiceAccount(ctx context.Context, namespace, name string, change func([]corev1.LocalObjectReference) []corev1.LocalObjectReference) error {
	accounts := r.kube.CoreV1().ServiceAccounts(namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		sa, err := accounts.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		refs := change(slices.Clone(sa.ImagePullSecrets))
		if refs == nil {
			return nil
		}
		sa.ImagePullSecrets = refs
		_, err = accounts.Update(ctx, sa, metav1.UpdateOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil // gone: nothing to reference from
	}
	if err != nil {
		return fmt.Errorf("updating ServiceAccount %s/%s: %w", namespace, name, err)
	}
	return nil
}

// removeUnwanted deletes the Connector's pull secrets that no wanted
// ServiceAccount owns, and their references.
func (r *refresher) removeUnwanted(ctx context.Context, c *v1alpha1.Connector, wanted []*corev1.ServiceAccount) (int, error) {
	keep := map[types.NamespacedName]bool{}
	for _, sa := range wanted {
		keep[types.NamespacedName{Namespace: sa.Namespace, Name: pullsecrets.Name(c, sa.Name)}] = true
	}
	list, err := r.kube.CoreV1().Secrets("").List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(pullsecrets.Labels(c.Namespace, c.Name)).String(),
	})
	if err != nil {
		return 0, fmt.Errorf("listing the Connector's pull secrets: %w", err)
	}
	removed := 0
	var errs []error
	for _, s := range list.Items {
		if keep[types.NamespacedName{Namespace: s.Namespace, Name: s.Name}] {
			continue
		}
		if !pullsecrets.Owned(c, &s) {
			// Labelled like ours, but not written by us: not ours to delete.
			r.logger.Warnw("Leaving a Secret that carries a Connector's labels but is not its pull secret",
				"namespace", s.Namespace, "secret", s.Name, "connector", c.Namespace+"/"+c.Name)
			continue
		}
		if sa := pullsecrets.ServiceAccountOf(&s); sa != "" {
			errs = append(errs, r.updateServiceAccount(ctx, s.Namespace, sa, func(refs []corev1.LocalObjectReference) []corev1.LocalObjectReference {
				i := slices.Index(refs, corev1.LocalObjectReference{Name: s.Name})
				if i < 0 {
					return nil
				}
				return append(refs[:i:i], refs[i+1:]...)
			}))
		}
		if err := r.kube.CoreV1().Secrets(s.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting Secret %s/%s: %w", s.Namespace, s.Name, err))
			continue
		}
		removed++
		r.logger.Infow("Removed a pull secret", "namespace", s.Namespace, "secret", s.Name)
	}
	return removed, errors.Join(errs...)
}
