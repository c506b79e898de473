// Command reconcilers is oci-connector's control plane, run by Knative's
// sharedmain: the Connector reconciler and the admission webhooks (Connector
// defaulting and validation, pod image rewriting) with the certificate
// reconciler that keeps their serving certificate.
package main

import (
	"knative.dev/pkg/injection/sharedmain"
	"knative.dev/pkg/signals"
	"knative.dev/pkg/webhook"
	"knative.dev/pkg/webhook/certificates"

	"github.com/oci-connector/oci-connector/reconcilers/connector"
	"github.com/oci-connector/oci-connector/reconcilers/connectoradmission"
	"github.com/oci-connector/oci-connector/reconcilers/podimages"
)

// The Service and Secret config/400-webhook-service.yaml ships.
const (
	webhookServiceName = "oci-connector-webhook"
	webhookSecretName  = "oci-connector-webhook-certs"
	defaultWebhookPort = 8443
)

func main() {
	ctx := webhook.WithOptions(signals.NewContext(), webhook.Options{
		ServiceName: webhookServiceName,
		SecretName:  webhookSecretName,
		Port:        webhook.PortFromEnv(defaultWebhookPort),
	})
	sharedmain.MainWithContext(ctx, "oci-connector-controller",
		connector.NewController,
		certificates.NewController,
		connectoradmission.NewDefaultingController,
		connectoradmission.NewValidationController,
		podimages.NewController,
	)
}
