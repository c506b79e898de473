// Package config is the cluster admin's configuration of oci-connector,
// config-oci-connector in the install namespace, as Knative's pkg/apis/config
// packages are: the typed value, the store that keeps it current, and its
// place in a context.
//
// Its one part today is the tenant model (Tenancy). Every Connector serves
// its own namespace; the admin names the namespaces whose Connectors serve
// the whole cluster. Only those may be matched automatically for pods
// elsewhere, select other namespaces for pull secrets, and accept the node
// audience. kube-system is never written to, whatever a Connector says.
package config

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oci-connector/oci-connector/pkg/apis/connector"
)

const (
	// ConfigName is the controller's ConfigMap, in its namespace.
	ConfigName = "config-oci-connector"
	// ClusterConnectorNamespacesKey lists, comma-separated, the namespaces whose
	// Connectors are cluster Connectors.
	ClusterConnectorNamespacesKey = "cluster-connector-namespaces"
	// ProtectedNamespace is never written to.
	ProtectedNamespace = "kube-system"
	// namespaceNameLabel is the label the API server gives every namespace.
	namespaceNameLabel = "kubernetes.io/metadata.name"
)

// Tenancy is what the cluster admin decided of tenants.
type Tenancy struct {
	// ClusterNamespaces hold the cluster Connectors.
	ClusterNamespaces []string
	// upstreamRules are UpstreamsKey's; none allows any upstream.
	upstreamRules []upstreamRule
}

// DefaultTenancy makes the install namespace's Connectors cluster Connectors.
func DefaultTenancy() *Tenancy {
	return &Tenancy{ClusterNamespaces: []string{connector.SystemNamespace}}
}

// NewTenancyFromConfigMap reads the ConfigMap; a missing key keeps the default.
func NewTenancyFromConfigMap(cm *corev1.ConfigMap) (*Tenancy, error) {
	c := DefaultTenancy()
	rules, err := parseUpstreamRules(cm.Data[UpstreamsKey])
	if err != nil {
		return nil, err
	}
	c.upstreamRules = rules
	raw, ok := cm.Data[ClusterConnectorNamespacesKey]
	if !ok {
		return c, nil
	}
	c.ClusterNamespaces = nil
	for _, ns := range strings.Split(raw, ",") {
		ns = strings.TrimSpace(ns)
		if ns == "" {
			continue
		}
		if ns == ProtectedNamespace {
			return nil, fmt.Errorf("%s: %s may not hold cluster Connectors", ClusterConnectorNamespacesKey, ProtectedNamespace)
		}
		c.ClusterNamespaces = append(c.ClusterNamespaces, ns)
	}
	return c, nil
}

// IsCluster says whether the Connectors of namespace serve the cluster.
func (c *Tenancy) IsCluster(namespace string) bool {
	return slices.Contains(c.ClusterNamespaces, namespace)
}

// MayServe says whether a Connector in connectorNamespace may serve
// namespace: its own, or any but kube-system for a cluster Connector.
func (c *Tenancy) MayServe(connectorNamespace, namespace string) bool {
	if namespace == ProtectedNamespace {
		return false
	}
	return namespace == connectorNamespace || c.IsCluster(connectorNamespace)
}

// MayMintIn says whether oci-connector may mint ServiceAccount tokens in
// namespace: never in kube-system, nor in the install's own namespace
// (systemNamespace), whose ServiceAccounts run the install. The API server
// enforces the same (config/200-tokenrequest-policy.yaml); asking first
// gives a clear answer instead of a refused TokenRequest.
func MayMintIn(namespace, systemNamespace string) bool {
	return namespace != ProtectedNamespace && namespace != systemNamespace
}

// SelectsOnlyHome says whether a pullSecrets namespaceSelector keeps to the
// Connector's own namespace: none at all, or one that names it.
func SelectsOnlyHome(selector *metav1.LabelSelector, home string) bool {
	return selector == nil || selector.MatchLabels[namespaceNameLabel] == home
}

// ConfigMaps gets the ConfigMaps of one namespace (a clientset's
// CoreV1().ConfigMaps(namespace)).
type ConfigMaps interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.ConfigMap, error)
}

// ReadTenancy fetches the Tenancy from the system namespace's ConfigMaps,
// for a function that keeps no watch: the default when the ConfigMap does
// not exist.
func ReadTenancy(ctx context.Context, configMaps ConfigMaps) (*Tenancy, error) {
	cm, err := configMaps.Get(ctx, ConfigName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return DefaultTenancy(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading ConfigMap %s: %w", ConfigName, err)
	}
	return NewTenancyFromConfigMap(cm)
}
