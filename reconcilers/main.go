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

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/reconcilers/connector"
	"github.com/oci-connector/oci-connector/reconcilers/connectoradmission"
	"github.com/oci-connector/oci-connector/reconcilers/podimages"
)

// defaultWebhookPort is config/500-controller.yaml's WEBHOOK_PORT.
const defaultWebhookPort = 8443

func main() {
	ctx := webhook.WithOptions(signals.NewContext(), webhook.Options{
		ServiceName: connectorapi.WebhookServiceName,
		SecretName:  connectorapi.WebhookSecretName,
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
