package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
	"knative.dev/pkg/kmeta"

	"github.com/oci-connector/oci-connector/pkg/apis/connector"
)

// +genclient
// +genreconciler
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Connector names an upstream OCI registry and the Secret holding its
// credentials. The controller runs a registry proxy for it; workloads reach the
// registry through that proxy with their own ServiceAccount token.
type Connector struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ConnectorSpec   `json:"spec,omitempty"`
	Status ConnectorStatus `json:"status,omitempty"`
}

// Compile-time checks that Connector has the interfaces Knative expects.
var (
	_ apis.Validatable        = (*Connector)(nil)
	_ apis.Defaultable        = (*Connector)(nil)
	_ apis.HasSpec            = (*Connector)(nil)
	_ apis.Listable           = (*Connector)(nil)
	_ apis.ConditionsAccessor = (*ConnectorStatus)(nil)
	_ kmeta.OwnerRefable      = (*Connector)(nil)
	_ duckv1.KRShaped         = (*Connector)(nil)
)

// ConnectorClassOCI is the only connector class today.
const ConnectorClassOCI = "oci"

// AuthMethod is accepted for compatibility with the OCI Connector
// manifests, which name one; it changes nothing. The proxy negotiates
// Basic or the registry's token flow from the upstream's challenge, as
// every registry client does.
type AuthMethod string

const (
	// AuthBasic is the OCI Connector manifests' name for Basic auth.
	AuthBasic AuthMethod = "basicAuth"
	// AuthToken is their name for the registry's token flow.
	AuthToken AuthMethod = "tokenAuth"
)

// Verb is what a client may do with a repository through the proxy.
type Verb = connector.Verb

const (
	// VerbPull reads manifests, blobs and tags.
	VerbPull = connector.VerbPull
	// VerbPush writes manifests and blobs.
	VerbPush = connector.VerbPush
)

// ConnectorSpec is the desired state of a Connector.
type ConnectorSpec struct {
	// ConnectorClassName selects the connector implementation; only "oci" today.
	// +optional
	ConnectorClassName string `json:"connectorClassName,omitempty"`

	// Address is the upstream registry's base URL, e.g. https://harbor.example.com.
	Address string `json:"address"`

	// Auth says how the proxy authenticates to the upstream.
	Auth ConnectorAuth `json:"auth"`

	// InsecureSkipTLSVerify turns off verification of the upstream's
	// certificate. To trust a private CA instead, put it in the Secret as ca.crt.
	// +optional
	InsecureSkipTLSVerify bool `json:"insecureSkipTLSVerify,omitempty"`

	// Repositories narrows, per path glob, what clients may do.
	// +optional
	Repositories []RepositoryAccess `json:"repositories,omitempty"`

	// Proxy tunes the proxy's Knative Service and who it accepts.
	// +optional
	Proxy ProxySpec `json:"proxy,omitempty"`

	// Sink receives the proxy's CloudEvents.
	// +optional
	Sink *duckv1.Destination `json:"sink,omitempty"`

	// PullSecrets asks tokenrefresh to keep pull secrets fresh on chosen
	// ServiceAccounts.
	// +optional
	PullSecrets *PullSecretsSpec `json:"pullSecrets,omitempty"`

	// Cache keeps the manifests and blobs the proxy serves, behind its own
	// authorization, so that pulls of them survive the upstream. Off
	// unless set.
	// +optional
	Cache *CacheSpec `json:"cache,omitempty"`
}

// ConnectorAuth names the upstream credentials.
type ConnectorAuth struct {
	// Name is basicAuth (default) or tokenAuth, accepted for compatibility
	// with the OCI Connector manifests; see AuthMethod.
	// +optional
	Name AuthMethod `json:"name,omitempty"`

	// SecretRef names a Secret in the Connector's namespace with the keys
	// username and password, or of type kubernetes.io/dockerconfigjson.
	SecretRef *SecretReference `json:"secretRef,omitempty"`

	// Params refine the auth; "repository" scopes the connector to
	// repositories matching its glob.
	// +optional
	Params []Param `json:"params,omitempty"`
}

// SecretReference names a Secret in the Connector's namespace.
type SecretReference struct {
	Name string `json:"name"`
}

// Param is one named auth parameter.
type Param struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ParamRepository is the auth param scoping the connector to repositories.
const ParamRepository = "repository"

// RepositoryAccess grants verbs on repositories matching a path glob.
type RepositoryAccess struct {
	// Path is a repository glob, e.g. "team-a/*".
	Path string `json:"path"`
	// Access lists the verbs allowed on matching repositories.
	Access []Verb `json:"access"`
}

// ProxySpec tunes the proxy.
type ProxySpec struct {
	// MinScale is the least number of proxy replicas; 1 by default so a pull
	// never waits for a cold start.
	// +optional
	MinScale *int32 `json:"minScale,omitempty"`
	// MaxScale is the most number of proxy replicas.
	// +optional
	MaxScale *int32 `json:"maxScale,omitempty"`
	// TargetConcurrency is the in-flight requests per replica the autoscaler aims for.
	// +optional
	TargetConcurrency *int32 `json:"targetConcurrency,omitempty"`
	// Audience is no longer chosen: every Connector's audience is its own,
	// oci-connector.dev/<namespace>/<name> (status.audience). A value is
	// refused when set, and kept unchanged when an older Connector has it.
	// +optional
	Audience string `json:"audience,omitempty"`
	// AcceptAPIServerTokens also accepts tokens made for the API server's own
	// audience, such as a pod's default mounted token. Off by default: such a
	// token, if leaked, opens the API server too.
	// +optional
	AcceptAPIServerTokens bool `json:"acceptAPIServerTokens,omitempty"`
	// BlobRedirects says what the proxy does when the upstream answers a
	// blob GET with a redirect to storage on another host, as S3-backed
	// registries do: follow (the default) fetches the blob itself, for
	// clusters that cannot reach the storage; pass hands the redirect to the
	// client, so the blob's bytes bypass the proxy.
	// +optional
	BlobRedirects BlobRedirects `json:"blobRedirects,omitempty"`
}

// BlobRedirects is follow or pass; see ProxySpec.BlobRedirects.
type BlobRedirects = connector.BlobRedirects

const (
	// BlobRedirectsFollow fetches redirected blobs in the proxy.
	BlobRedirectsFollow = connector.BlobRedirectsFollow
	// BlobRedirectsPass returns the upstream's redirect of a blob GET to the
	// client.
	BlobRedirectsPass = connector.BlobRedirectsPass
)

// PullSecretsSpec chooses the ServiceAccounts that get a pull secret for the proxy.
type PullSecretsSpec struct {
	// NamespaceSelector chooses namespaces; empty means the Connector's own.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
	// ServiceAccounts names ServiceAccounts; "*" means every one.
	// +optional
	ServiceAccounts []string `json:"serviceAccounts,omitempty"`
	// RefreshBefore is how long before expiry a pull secret is renewed.
	// +optional
	RefreshBefore *metav1.Duration `json:"refreshBefore,omitempty"`
	// TokenTTL is the lifetime of the tokens in pull secrets.
	// +optional
	TokenTTL *metav1.Duration `json:"tokenTTL,omitempty"`
}

// ConnectorStatus is the observed state of a Connector.
type ConnectorStatus struct {
	duckv1.Status `json:",inline"`

	// URL is the proxy's external URL: what nodes and rewritten images use.
	// +optional
	URL *apis.URL `json:"url,omitempty"`

	// Address is the proxy's cluster-local address for in-cluster clients.
	// +optional
	Address *duckv1.Addressable `json:"address,omitempty"`

	// Audience is the token audience the proxy accepts.
	// +optional
	Audience string `json:"audience,omitempty"`

	// SinkURI is where the proxy and the controller send CloudEvents,
	// resolved from spec.sink; empty without one.
	// +optional
	SinkURI *apis.URL `json:"sinkUri,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ConnectorList is a list of Connectors.
type ConnectorList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []Connector `json:"items"`
}

// GetGroupVersionKind returns the GroupVersionKind of Connector.
func (*Connector) GetGroupVersionKind() schema.GroupVersionKind {
	return SchemeGroupVersion.WithKind("Connector")
}

// GetStatus returns the Connector's duck status.
func (c *Connector) GetStatus() *duckv1.Status {
	return &c.Status.Status
}

// GetUntypedSpec returns the spec for generic handling.
func (c *Connector) GetUntypedSpec() interface{} {
	return c.Spec
}

// GetListType returns an empty ConnectorList.
func (*Connector) GetListType() runtime.Object {
	return &ConnectorList{}
}
