package connector

// Names of what config/ installs, shared by the controller and the tests.
const (
	// SystemNamespace is the namespace config/ installs oci-connector into.
	SystemNamespace = "oci-connector"
	// WebhookServiceName and WebhookSecretName are the webhooks' Service
	// and its certificate Secret (config/400-webhook-service.yaml).
	WebhookServiceName = "oci-connector-webhook"
	WebhookSecretName  = "oci-connector-webhook-certs"
	// CSIDriverName is the CSI driver's name (config/700-csi-driver.yaml).
	CSIDriverName = "csi.oci-connector.dev"
)

// The ServiceAccounts config/ runs the install's own parts as, in
// SystemNamespace; the proxies run as ProxyServiceAccount in each
// Connector's namespace.
const (
	ControllerServiceAccount   = "oci-connector-controller"
	TokenRefreshServiceAccount = "oci-connector-tokenrefresh"
	ProxyServiceAccount        = "oci-connector-proxy"
)
