// Package trust is oci-connector's tenant model. Every Connector serves its
// own namespace; the cluster admin names, in the controller's ConfigMap,
// the namespaces whose Connectors serve the whole cluster. Only those may be
// matched automatically for pods elsewhere, select other namespaces for
// pull secrets, and accept the node audience. kube-system is never written
// to, whatever a Connector says.
package trust

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/configmap"

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

// Config is what the cluster admin decided.
type Config struct {
	// ClusterNamespaces hold the cluster Connectors.
	ClusterNamespaces []string
	// upstreamRules are UpstreamsKey's; none allows any upstream.
	upstreamRules []upstreamRule
}

// DefaultConfig makes the install namespace's Connectors cluster Connectors.
func DefaultConfig() *Config {
	return &Config{ClusterNamespaces: []string{connector.SystemNamespace}}
}

// NewConfigFromConfigMap reads the ConfigMap; a missing key keeps the default.
func NewConfigFromConfigMap(cm *corev1.ConfigMap) (*Config, error) {
	c := DefaultConfig()
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
func (c *Config) IsCluster(namespace string) bool {
	return slices.Contains(c.ClusterNamespaces, namespace)
}

// MayServe says whether a Connector in connectorNamespace may serve
// namespace: its own, or any but kube-system for a cluster Connector.
func (c *Config) MayServe(connectorNamespace, namespace string) bool {
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

// Store holds the Config in force, updated when the ConfigMap changes.
type Store struct {
	current atomic.Pointer[Config]
	// onChange, when set, hears of every new Config.
	onChange func(*Config)
}

// NewStore starts with the default Config.
func NewStore(onChange func(*Config)) *Store {
	s := &Store{onChange: onChange}
	s.current.Store(DefaultConfig())
	return s
}

// Load returns the Config in force; the default for a nil Store.
func (s *Store) Load() *Config {
	if s == nil {
		return DefaultConfig()
	}
	return s.current.Load()
}

// Set puts c in force.
func (s *Store) Set(c *Config) {
	s.current.Store(c)
	if s.onChange != nil {
		s.onChange(c)
	}
}

// WatchConfigs follows the ConfigMap through Knative's watcher; a change
// applies without a restart, and a deleted ConfigMap brings the default back.
func (s *Store) WatchConfigs(cmw configmap.Watcher) {
	observe := func(cm *corev1.ConfigMap) {
		c, err := NewConfigFromConfigMap(cm)
		if err != nil {
			return // keep what is in force; the validation webhook names the error
		}
		s.Set(c)
	}
	if dw, ok := cmw.(configmap.DefaultingWatcher); ok {
		dw.WatchWithDefault(corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: ConfigName}}, observe)
		return
	}
	cmw.Watch(ConfigName, observe)
}

type configKey struct{}

// ToContext carries c for the Connector validation webhook.
func ToContext(ctx context.Context, c *Config) context.Context {
	return context.WithValue(ctx, configKey{}, c)
}

// FromContext is the Config ToContext carried; nil when none.
func FromContext(ctx context.Context) *Config {
	c, _ := ctx.Value(configKey{}).(*Config)
	return c
}

// ConfigMaps gets the ConfigMaps of one namespace (a clientset's
// CoreV1().ConfigMaps(namespace)).
type ConfigMaps interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.ConfigMap, error)
}

// Read fetches the Config from the system namespace's ConfigMaps, for a
// function that keeps no watch: the default when the ConfigMap does not
// exist.
func Read(ctx context.Context, configMaps ConfigMaps) (*Config, error) {
	cm, err := configMaps.Get(ctx, ConfigName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return DefaultConfig(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading ConfigMap %s: %w", ConfigName, err)
	}
	return NewConfigFromConfigMap(cm)
}
