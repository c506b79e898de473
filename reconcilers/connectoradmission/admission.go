// Package connectoradmission defaults and validates Connectors as they are
// written, with knative.dev/pkg's resourcesemantics webhooks, so that a bad
// Connector is refused by the API server with its field paths.
package connectoradmission

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"knative.dev/pkg/configmap"
	"knative.dev/pkg/controller"
	"knative.dev/pkg/logging"
	"knative.dev/pkg/webhook/resourcesemantics"
	"knative.dev/pkg/webhook/resourcesemantics/defaulting"
	"knative.dev/pkg/webhook/resourcesemantics/validation"

	"github.com/oci-connector/oci-connector/pkg/apis/config"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
)

// The webhook configurations in config/ and the paths they call.
const (
	DefaultingWebhookName = "defaulting.webhook.oci-connector.dev"
	DefaultingPath        = "/defaulting"
	ValidationWebhookName = "validation.webhook.oci-connector.dev"
	ValidationPath        = "/validation"
)

// A delete is not validated (see Connector.SupportedVerbs).
var _ resourcesemantics.VerbLimited = (*v1alpha1.Connector)(nil)

// types are the resources these webhooks cover.
var types = map[schema.GroupVersionKind]resourcesemantics.GenericCRD{
	v1alpha1.SchemeGroupVersion.WithKind("Connector"): &v1alpha1.Connector{},
}

// NewDefaultingController fills a Connector's defaults (SetDefaults) before
// it is stored.
func NewDefaultingController(ctx context.Context, _ configmap.Watcher) *controller.Impl {
	return defaulting.NewAdmissionController(ctx, DefaultingWebhookName, DefaultingPath, types, nil, true)
}

// NewValidationController refuses a Connector that Validate finds wrong,
// with the admin's configuration in force (a namespaced Connector may not
// select other namespaces), from the process's config.Store.
func NewValidationController(ctx context.Context, cmw configmap.Watcher) *controller.Impl {
	store := config.StoreFor(cmw, logging.FromContext(ctx))
	return validation.NewAdmissionController(ctx, ValidationWebhookName, ValidationPath, types, store.ToContext, true)
}
