// Package proxyenv names the environment through which the controller tells a
// proxy which Connector it serves. The reconciler writes it into the proxy's
// Knative Service; functions/proxy reads it.
package proxyenv

// Environment variable names.
const (
	ConnectorNamespace = "CONNECTOR_NAMESPACE"
	ConnectorName      = "CONNECTOR_NAME"
	UpstreamAddress    = "UPSTREAM_ADDRESS"
	Audience           = "AUDIENCE"
	// Repository is the auth.params repository glob, if any.
	Repository = "REPOSITORY"
	// Repositories is spec.repositories as JSON, if any.
	Repositories = "REPOSITORIES"
	// AcceptAPIServerTokens is "true" when tokens for the API server's own
	// audience are accepted too.
	AcceptAPIServerTokens = "ACCEPT_API_SERVER_TOKENS"
	// BlobRedirects is "pass" to hand the upstream's storage redirects of
	// blob GETs to the client; following them is the default.
	BlobRedirects = "BLOB_REDIRECTS"
	// UpstreamInsecureSkipVerify is "true" to skip verifying the upstream's certificate.
	UpstreamInsecureSkipVerify = "UPSTREAM_INSECURE_SKIP_VERIFY"
	// CredentialsDir is where the upstream Secret is mounted.
	CredentialsDir = "CREDENTIALS_DIR"
	// Sink is the CloudEvents sink, the name Knative sources use.
	Sink = "K_SINK"
	// AuditTokenFile is the projected token presented with every event
	// sent to AuditURL.
	AuditTokenFile = "AUDIT_TOKEN_FILE"
	// AuditURL is the audit function's address, as the install names it:
	// the only sink that is sent AuditTokenFile.
	AuditURL = "AUDIT_URL"
	// ForwardedHops is how many proxies in front of the proxy the install
	// trusts to append to X-Forwarded-For.
	ForwardedHops = "FORWARDED_HOPS"
)

// DefaultCredentialsDir is where the reconciler mounts the Secret.
const DefaultCredentialsDir = "/var/run/oci-connector/credentials"
