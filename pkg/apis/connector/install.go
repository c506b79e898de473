package connector

// Names of what config/ installs, shared by the controller and the tests.
const (
	// SystemNamespace is the namespace config/ installs oci-connector into.
	SystemNamespace = "oci-connector"
	// WebhookServiceName and WebhookSecretName are the webhooks' Service
	// and its certificate Secret (config/400-webhook-service.yaml).
	WebhookServiceName = "oci-connector-webhook"
	WebhookSecretName  = "oci-connector-webhook-certs"
)
