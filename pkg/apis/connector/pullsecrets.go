package connector

// The labels that tie a pull secret (written by tokenrefresh) to its
// Connector and ServiceAccount, and the annotation that says when its token
// expires (RFC 3339).
const (
	PullSecretConnectorNamespaceLabel = GroupName + "/connector-namespace"
	PullSecretConnectorNameLabel      = GroupName + "/connector-name"
	PullSecretServiceAccountLabel     = GroupName + "/service-account"
	PullSecretExpiresAnnotation       = GroupName + "/token-expires"
)
