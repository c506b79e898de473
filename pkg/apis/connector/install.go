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
