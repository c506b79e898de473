package resources

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"knative.dev/pkg/kmeta"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
)

// Labels and annotations the reconciler puts on what it creates.
const (
	// ConnectorLabel names the Connector a proxy Service belongs to.
	ConnectorLabel = "oci-connector.dev/connector"
	// SecretDigestAnnotation on the revision template changes whenever the
	// upstream Secret's data does, so a rotation rolls a new revision.
	SecretDigestAnnotation = "oci-connector.dev/secret-digest"
	managedByLabel         = "app.kubernetes.io/managed-by"
	managedByValue         = "oci-connector"
	componentLabel         = "app.kubernetes.io/component"
	componentValue         = "proxy"
)

// ServiceName is the name of a Connector's proxy Service: c-<connector>.
// Knative wants a DNS-1035 label, a Connector name may be any DNS-1123
// subdomain: dots become dashes, with a hash of the name after them so that
// "a.b" and "a-b" do not meet, and a name too long for a label is shortened
// with a hash (kmeta.ChildName).
func ServiceName(c *v1alpha1.Connector) string {
	if !strings.Contains(c.Name, ".") {
		return kmeta.ChildName("c-"+c.Name, "")
	}
	sum := sha256.Sum256([]byte(c.Name))
	return kmeta.ChildName("c-"+strings.ReplaceAll(c.Name, ".", "-"), "-"+hex.EncodeToString(sum[:4]))
}
