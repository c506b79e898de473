package connector

import "fmt"

// What the API and the proxy share: the verbs, the blob-redirect modes and
// the token audiences. They live here, in the API group's package, which
// imports nothing, so that the proxy links none of the versioned API (nor
// Knative's and Serving's packages behind it); v1alpha1 names them as its own.

// Verb is what a client may do with a repository through the proxy.
type Verb string

const (
	// VerbPull reads manifests, blobs and tags.
	VerbPull Verb = "pull"
	// VerbPush writes manifests and blobs.
	VerbPush Verb = "push"
)

// BlobRedirects is follow or pass: what the proxy does with an upstream's
// redirect of a blob GET to storage.
type BlobRedirects string

const (
	// BlobRedirectsFollow fetches redirected blobs in the proxy.
	BlobRedirectsFollow BlobRedirects = "follow"
	// BlobRedirectsPass returns the upstream's redirect of a blob GET to the
	// client. The pre-signed URL is a short-lived capability for one blob the
	// client was allowed to pull, and carries no registry credential.
	BlobRedirectsPass BlobRedirects = "pass"
)

// Valid says whether b is follow, pass or unset (follow).
func (b BlobRedirects) Valid() bool {
	return b == "" || b == BlobRedirectsFollow || b == BlobRedirectsPass
}

const (
	// NodeAudience is the audience of the kubelet credential provider's
	// tokens; cluster Connectors accept it beside their own.
	NodeAudience = "oci-connector.dev"
	// CSIAudience is the audience of the token the kubelet hands the CSI
	// driver to vouch for a pod. No proxy accepts it: the driver only
	// checks it, then mints the pod a token for the Connector's audience.
	CSIAudience = NodeAudience + "/csi"
)

// ConnectorAudience is the audience of the Connector namespace/name: its
// own, so a token sent to one Connector's proxy is worth nothing at
// another's.
func ConnectorAudience(namespace, name string) string {
	return fmt.Sprintf("%s/%s/%s", NodeAudience, namespace, name)
}

// ProxyReadinessPath is the proxy's readiness probe on its port: not ready
// while the upstream refuses every password the proxy holds.
const ProxyReadinessPath = "/readyz"
