// Package connector holds the API group of oci-connector.
package connector

const (
	// GroupName is the API group of every oci-connector resource.
	GroupName = "oci-connector.dev"

	// ProxySubresource is the subresource that RBAC rules name to grant
	// "pull" and "push" through a Connector's proxy.
	ProxySubresource = "proxy"

	// PullerClusterRole and PusherClusterRole (config/200-clusterrole-proxy-access.yaml)
	// grant pull, and pull and push, through a Connector when bound in its
	// namespace.
	PullerClusterRole = "oci-connector-puller"
	PusherClusterRole = "oci-connector-pusher"
)

// RoleFor is the ClusterRole that grants verb ("pull" or "push").
func RoleFor(verb string) string {
	if verb == "push" {
		return PusherClusterRole
	}
	return PullerClusterRole
}
