package resources

import (
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

// ServiceName is the name of a Connector's proxy Service: c-<connector>,
// shortened with a hash when that would not fit a DNS label.
func ServiceName(c *v1alpha1.Connector) string {
	return kmeta.ChildName("c-"+c.Name, "")
}
