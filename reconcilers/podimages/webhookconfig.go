package podimages

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	admissionlisters "k8s.io/client-go/listers/admissionregistration/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"knative.dev/pkg/controller"
	"knative.dev/pkg/logging"
	"knative.dev/pkg/ptr"
	pkgreconciler "knative.dev/pkg/reconciler"
	"knative.dev/pkg/system"
	certresources "knative.dev/pkg/webhook/certificates/resources"

	"github.com/oci-connector/oci-connector/pkg/access"
	"github.com/oci-connector/oci-connector/pkg/apis/config"
	connectorlisters "github.com/oci-connector/oci-connector/pkg/client/listers/connector/v1alpha1"
)

// reconciler serves the webhook (Admit) and keeps its configuration (Reconcile).
type reconciler struct {
	pkgreconciler.LeaderAwareFuncs

	key        types.NamespacedName
	secretName string

	client          kubernetes.Interface
	mwcLister       admissionlisters.MutatingWebhookConfigurationLister
	secretLister    corelisters.SecretLister
	connectorLister connectorlisters.ConnectorLister
	reviewer        *access.Reviewer
	// trust says which Connectors serve the whole cluster.
	// config is the process's store of the admin's configuration.
	config *config.Store
}

var _ controller.Reconciler = (*reconciler)(nil)

// Reconcile gives every webhook in the configuration the CA bundle that
// signed the serving certificate, and, for those that call a Service, the
// path. The configuration's selectors and rules are config/'s to set.
func (r *reconciler) Reconcile(ctx context.Context, key string) error {
	if !r.IsLeaderFor(r.key) {
		return controller.NewSkipKey(key)
	}
	logger := logging.FromContext(ctx)
	// A missing Secret, certificate or configuration is not an error to
	// retry: its arrival is an event that brings us back.
	secret, err := r.secretLister.Secrets(system.Namespace()).Get(r.secretName)
	if apierrors.IsNotFound(err) {
		logger.Infow("Waiting for the webhook certificate Secret", "secret", r.secretName)
		return nil
	} else if err != nil {
		return fmt.Errorf("reading the webhook certificate Secret %s/%s: %w", system.Namespace(), r.secretName, err)
	}
	caCert, ok := secret.Data[certresources.CACert]
	if !ok {
		logger.Infow("Waiting for the certificate reconciler to fill the Secret", "secret", r.secretName)
		return nil
	}
	current, err := r.mwcLister.Get(r.key.Name)
	if apierrors.IsNotFound(err) {
		logger.Infow("Waiting for the webhook configuration", "name", r.key.Name)
		return nil
	} else if err != nil {
		return fmt.Errorf("reading MutatingWebhookConfiguration %s: %w", r.key.Name, err)
	}

	want := current.DeepCopy()
	for i := range want.Webhooks {
		cc := &want.Webhooks[i].ClientConfig
		cc.CABundle = caCert
		if cc.Service != nil {
			cc.Service.Path = ptr.String(Path)
		}
	}
	if equality.Semantic.DeepEqual(current.Webhooks, want.Webhooks) {
		return nil
	}
	if _, err := r.client.AdmissionregistrationV1().MutatingWebhookConfigurations().Update(ctx, want, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating MutatingWebhookConfiguration %s: %w", r.key.Name, err)
	}
	return nil
}
