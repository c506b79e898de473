package connector

// The labels that tie a pull secret (written by tokenrefresh) to its
// Connector and ServiceAccount, and the annotation that says when its token
// expires (RFC 3339).
const (
	PullSecretConnectorNamespaceLabel = GroupName + "/connector-namespace"
	PullSecretConnectorNameLabel      = GroupName + "/connector-name"
	PullSecretServiceAccountLabel     = GroupName + "/service-account"
	PullSecretExpiresAnnotation       = GroupName + "/token-expires"
	// PullSecretOwnerAnnotation binds a pull secret to its Connector, its
	// ServiceAccount (by UID) and its own name: tokenrefresh deletes only a
	// Secret that carries it, so labelling a Secret cannot get it deleted.
	PullSecretOwnerAnnotation = GroupName + "/pull-secret-of"
)
