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
	// CacheStorage is emptyDir or s3 when spec.cache is set; no cache
	// otherwise.
	CacheStorage = "CACHE_STORAGE"
	// CacheSize is the cache's size as a Kubernetes quantity.
	CacheSize = "CACHE_SIZE"
	// CacheDir is the emptyDir the cache is kept in.
	CacheDir = "CACHE_DIR"
	// CacheStagingDir holds blobs while they are written to the bucket.
	CacheStagingDir = "CACHE_STAGING_DIR"
	// The object store of s3 storage, and where its Secret is mounted.
	CacheS3Endpoint       = "CACHE_S3_ENDPOINT"
	CacheS3Region         = "CACHE_S3_REGION"
	CacheS3Bucket         = "CACHE_S3_BUCKET"
	CacheS3Prefix         = "CACHE_S3_PREFIX"
	CacheS3CredentialsDir = "CACHE_S3_CREDENTIALS_DIR"
)

// Where the reconciler mounts the cache's volumes and Secret.
const (
	DefaultCacheDir              = "/var/cache/oci-connector"
	DefaultCacheStagingDir       = "/var/cache/oci-connector-staging"
	DefaultCacheS3CredentialsDir = "/var/run/oci-connector/cache-credentials"
)

// DefaultCredentialsDir is where the reconciler mounts the Secret.
const DefaultCredentialsDir = "/var/run/oci-connector/credentials"

// Environment is the proxy's environment as the constants above name it
// (and Knative's PORT, the metrics exporter's, KUBECONFIG and an extra CA),
// read with envconfig; the proxy's flags take their defaults from it.
type Environment struct {
	Port                       string `envconfig:"PORT" default:"8080"`
	ConnectorNamespace         string `envconfig:"CONNECTOR_NAMESPACE"`
	ConnectorName              string `envconfig:"CONNECTOR_NAME"`
	UpstreamAddress            string `envconfig:"UPSTREAM_ADDRESS"`
	Audience                   string `envconfig:"AUDIENCE"`
	Repository                 string `envconfig:"REPOSITORY"`
	Repositories               string `envconfig:"REPOSITORIES"`
	AcceptAPIServerTokens      bool   `envconfig:"ACCEPT_API_SERVER_TOKENS"`
	BlobRedirects              string `envconfig:"BLOB_REDIRECTS" default:"follow"`
	UpstreamInsecureSkipVerify bool   `envconfig:"UPSTREAM_INSECURE_SKIP_VERIFY"`
	UpstreamCAFile             string `envconfig:"UPSTREAM_CA_FILE"`
	CredentialsDir             string `envconfig:"CREDENTIALS_DIR" default:"/var/run/oci-connector/credentials"`
	Sink                       string `envconfig:"K_SINK"`
	AuditTokenFile             string `envconfig:"AUDIT_TOKEN_FILE"`
	AuditURL                   string `envconfig:"AUDIT_URL"`
	ForwardedHops              int    `envconfig:"FORWARDED_HOPS"`
	CacheStorage               string `envconfig:"CACHE_STORAGE"`
	CacheSize                  string `envconfig:"CACHE_SIZE"`
	CacheDir                   string `envconfig:"CACHE_DIR" default:"/var/cache/oci-connector"`
	CacheStagingDir            string `envconfig:"CACHE_STAGING_DIR"`
	CacheS3Endpoint            string `envconfig:"CACHE_S3_ENDPOINT"`
	CacheS3Region              string `envconfig:"CACHE_S3_REGION"`
	CacheS3Bucket              string `envconfig:"CACHE_S3_BUCKET"`
	CacheS3Prefix              string `envconfig:"CACHE_S3_PREFIX"`
	CacheS3CredentialsDir      string `envconfig:"CACHE_S3_CREDENTIALS_DIR" default:"/var/run/oci-connector/cache-credentials"`
	Kubeconfig                 string `envconfig:"KUBECONFIG"`
	MetricsProtocol            string `envconfig:"METRICS_PROTOCOL" default:"none"`
	MetricsEndpoint            string `envconfig:"METRICS_ENDPOINT"`
}
