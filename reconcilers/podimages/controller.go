// Package podimages is the admission webhook that points the images of
// opted-in pods at their Connector's proxy, and the reconciler that keeps its
// MutatingWebhookConfiguration trusting the webhook's certificate.
package podimages

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	kubeclient "knative.dev/pkg/client/injection/kube/client"
	mwcinformer "knative.dev/pkg/client/injection/kube/informers/admissionregistration/v1/mutatingwebhookconfiguration"
	"knative.dev/pkg/configmap"
	"knative.dev/pkg/controller"
	secretinformer "knative.dev/pkg/injection/clients/namespacedkube/informers/core/v1/secret"
	"knative.dev/pkg/logging"
	pkgreconciler "knative.dev/pkg/reconciler"
	"knative.dev/pkg/system"
	"knative.dev/pkg/webhook"

	"github.com/oci-connector/oci-connector/pkg/access"
	"github.com/oci-connector/oci-connector/pkg/apis/config"
	connectorinformer "github.com/oci-connector/oci-connector/pkg/client/injection/informers/connector/v1alpha1/connector"
)

const (
	// WebhookName is the MutatingWebhookConfiguration in config/ that sends
	// opted-in pods here.
	WebhookName = "pods.webhook.oci-connector.dev"
	// Path is where the webhook serves.
	Path = "/pods"
)

// NewController is the sharedmain constructor: the webhook itself, and a
// controller that keeps WebhookName's CA bundle and path current.
func NewController(ctx context.Context, cmw configmap.Watcher) *controller.Impl {
	mwcInformer := mwcinformer.Get(ctx)
	secretInformer := secretinformer.Get(ctx)
	client := kubeclient.Get(ctx)
	key := types.NamespacedName{Name: WebhookName}

	r := &reconciler{
		LeaderAwareFuncs: pkgreconciler.LeaderAwareFuncs{
			// Whoever leads keeps the configuration.
			PromoteFunc: func(bkt pkgreconciler.Bucket, enq func(pkgreconciler.Bucket, types.NamespacedName)) error {
				enq(bkt, key)
				return nil
			},
		},
		key:             key,
		secretName:      webhook.GetOptions(ctx).SecretName,
		client:          client,
		mwcLister:       mwcInformer.Lister(),
		secretLister:    secretInformer.Lister(),
		connectorLister: connectorinformer.Get(ctx).Lister(),
		reviewer:        access.NewReviewer(client.AuthorizationV1().SubjectAccessReviews()),
		config:          config.StoreFor(cmw, logging.FromContext(ctx)),
	}

	const queueName = "PodImagesWebhook"
	impl := controller.NewContext(ctx, r, controller.ControllerOptions{
		WorkQueueName: queueName,
		Logger:        logging.FromContext(ctx).Named(queueName),
	})
	// Whatever changes, the one configuration is what gets reconciled.
	mwcInformer.Informer().AddEventHandler(cache.FilteringResourceEventHandler{
		FilterFunc: controller.FilterWithName(WebhookName),
		Handler:    controller.HandleAll(impl.Enqueue),
	})
	secretInformer.Informer().AddEventHandler(cache.FilteringResourceEventHandler{
		FilterFunc: controller.FilterWithNameAndNamespace(system.Namespace(), r.secretName),
		Handler:    controller.HandleAll(impl.Enqueue),
	})
	return impl
}
