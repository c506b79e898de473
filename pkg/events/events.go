// Package events is oci-connector's CloudEvents catalogue: the types, their
// source and subject, and their data as Go structs. No event ever holds a
// token or a credential; docs/events.md shows one example of each.
package events

import (
	"fmt"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"
)

// The event types.
const (
	// ImagePulled: the proxy served a manifest.
	ImagePulled = "dev.oci-connector.image.pulled"
	// ImagePushed: the proxy stored a manifest upstream.
	ImagePushed = "dev.oci-connector.image.pushed"
	// AccessDenied: the proxy refused a request (401 or 403).
	AccessDenied = "dev.oci-connector.access.denied"
	// CredentialsRotated: the controller saw the upstream Secret's content change.
	CredentialsRotated = "dev.oci-connector.credentials.rotated"
	// PullSecretsRefresh: the controller asks tokenrefresh to bring a
	// Connector's pull secrets in line (mint, renew, remove).
	PullSecretsRefresh = "dev.oci-connector.pullsecrets.refresh"
	// PullSecretsRotated: tokenrefresh wrote or removed pull secrets.
	PullSecretsRotated = "dev.oci-connector.pullsecrets.rotated"
)

// Outcomes of a proxy event.
const (
	OutcomeAllowed = "allowed"
	OutcomeDenied  = "denied"
)

// Reasons for AccessDenied.
const (
	ReasonNoToken    = "NoToken"
	ReasonBadToken   = "BadToken"
	ReasonNoRBAC     = "NoRBAC"
	ReasonOutOfScope = "OutOfScope"
)

// Reasons for PullSecretsRefresh.
const (
	RefreshConnectorChanged    = "ConnectorChanged"
	RefreshExpiring            = "Expiring"
	RefreshServiceAccountAdded = "ServiceAccountAdded"
	RefreshNamespaceAdded      = "NamespaceAdded"
	// RefreshNamespaceChanged: a namespace's labels changed, so a selector
	// may match it now or no longer.
	RefreshNamespaceChanged = "NamespaceChanged"
	// RefreshProxyChanged: the Connector became Ready, stopped being Ready,
	// or its proxy moved to another URL.
	RefreshProxyChanged = "ProxyChanged"
	// RefreshRBACChanged: a RoleBinding or ClusterRoleBinding changed, so
	// another set of ServiceAccounts may pull.
	RefreshRBACChanged = "RBACChanged"
	// RefreshTrustChanged: the cluster admin changed which Connectors serve
	// the whole cluster (config-oci-connector).
	RefreshTrustChanged = "TrustChanged"
	// RefreshResync: the controller's periodic look, the safety net for a
	// lost event.
	RefreshResync = "Resync"
	// RefreshConnectorDeleted: the Connector is gone; its pull secrets go too.
	RefreshConnectorDeleted = "ConnectorDeleted"
)

// Source is the event source of everything about one Connector: its API path.
func Source(namespace, name string) string {
	return fmt.Sprintf("/apis/oci-connector.dev/v1alpha1/namespaces/%s/connectors/%s", namespace, name)
}

// Identity is who a client was, as TokenReview said; never its token.
type Identity struct {
	Username string `json:"username"`
	UID      string `json:"uid,omitempty"`
	// Pod is set when the token was bound to a pod.
	Pod string `json:"pod,omitempty"`
}

// ImageData is the data of ImagePulled, ImagePushed and AccessDenied.
type ImageData struct {
	Connector  string   `json:"connector"`
	Namespace  string   `json:"namespace"`
	Repository string   `json:"repository,omitempty"`
	Reference  string   `json:"reference,omitempty"`
	Digest     string   `json:"digest,omitempty"`
	Identity   Identity `json:"identity"`
	UserAgent  string   `json:"userAgent,omitempty"`
	Outcome    string   `json:"outcome"`
	Reason     string   `json:"reason,omitempty"`
	// Client is the address of a client that was refused before it logged
	// in, as far as the proxy trusts X-Forwarded-For (its forwarded hops);
	// such refusals are aggregated.
	Client string `json:"client,omitempty"`
	// Peer is the address the refused request came from, when it is not
	// Client (a proxy in front).
	Peer string `json:"peer,omitempty"`
	// Count, when set, is how many refusals of this client for this reason
	// the event stands for, beyond the first, over the proxy's interval.
	Count int `json:"count,omitempty"`
	// Cache says, for a pull with the Connector's cache on, where the
	// manifest came from: hit, miss, or stale (the upstream could not
	// answer, and the tag's last known manifest was served).
	Cache string `json:"cache,omitempty"`
	// Subject is, for a pushed referrer (a signature, an SBOM), the digest
	// of the manifest it refers to.
	Subject string `json:"subject,omitempty"`
}

// The values of ImageData.Cache.
const (
	CacheHit   = "hit"
	CacheMiss  = "miss"
	CacheStale = "stale"
)

// CredentialsData is the data of CredentialsRotated.
type CredentialsData struct {
	Connector string `json:"connector"`
	Namespace string `json:"namespace"`
	Secret    string `json:"secret"`
	// DigestPrefix is the first characters of the new content's digest:
	// enough to tell rotations apart, nothing to learn the password from.
	DigestPrefix string `json:"digestPrefix,omitempty"`
}

// RefreshData is the data of PullSecretsRefresh.
type RefreshData struct {
	Connector string `json:"connector"`
	Namespace string `json:"namespace"`
	// Reason says what called for it: one of the Refresh* reasons.
	Reason string `json:"reason"`
	// ServiceAccount narrows the refresh to one, as "<namespace>/<name>".
	ServiceAccount string `json:"serviceAccount,omitempty"`
}

// RotatedData is the data of PullSecretsRotated: counts, never a token.
type RotatedData struct {
	Connector string `json:"connector"`
	Namespace string `json:"namespace"`
	// Reason is the reason of the refresh that did it.
	Reason string `json:"reason,omitempty"`
	// Written counts pull secrets minted or renewed, Removed those deleted.
	Written int `json:"written"`
	Removed int `json:"removed"`
	// ServiceAccounts is how many ServiceAccounts hold a pull secret now.
	ServiceAccounts int `json:"serviceAccounts"`
}

// New builds an event of typ about the Connector namespace/name, with a fresh
// id; subject is the image reference for proxy events.
func New(typ, namespace, name, subject string, data any) (cloudevents.Event, error) {
	e := cloudevents.NewEvent()
	e.SetID(uuid.NewString())
	e.SetType(typ)
	e.SetSource(Source(namespace, name))
	if subject != "" {
		e.SetSubject(subject)
	}
	if err := e.SetData(cloudevents.ApplicationJSON, data); err != nil {
		return e, fmt.Errorf("encoding %s data: %w", typ, err)
	}
	return e, nil
}
