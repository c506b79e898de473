// Package connector holds the API group of oci-connector.
package connector

const (
	// GroupName is the API group of every oci-connector resource.
	GroupName = "oci-connector.dev"

	// ProxySubresource is the subresource that RBAC rules name to grant
	// "pull" and "push" through a Connector's proxy.
	ProxySubresource = "proxy"
)
