package podimages

import (
	"context"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	admissionlisters "k8s.io/client-go/listers/admissionregistration/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	pkgreconciler "knative.dev/pkg/reconciler"
	"knative.dev/pkg/system"
	_ "knative.dev/pkg/system/testing" // sets SYSTEM_NAMESPACE
	certresources "knative.dev/pkg/webhook/certificates/resources"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
)

// newLeadingReconciler keeps WebhookName from the Secret "certs", as the leader.
func newLeadingReconciler(client *fake.Clientset, mwcs, secrets cache.Indexer) *reconciler {
	r := &reconciler{
		key:          types.NamespacedName{Name: WebhookName},
		secretName:   "certs",
		client:       client,
		mwcLister:    admissionlisters.NewMutatingWebhookConfigurationLister(mwcs),
		secretLister: corelisters.NewSecretLister(secrets),
	}
	r.Promote(pkgreconciler.UniversalBucket(), func(pkgreconciler.Bucket, types.NamespacedName) {})
	return r
}

func TestReconcileKeepsCABundleAndPath(t *testing.T) {
	url := "https://127.0.0.1:8443/pods"
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: WebhookName},
		Webhooks: []admissionregistrationv1.MutatingWebhook{
			{Name: "a", ClientConfig: admissionregistrationv1.WebhookClientConfig{
				Service: &admissionregistrationv1.ServiceReference{Namespace: connectorapi.SystemNamespace, Name: connectorapi.WebhookServiceName},
			}},
			{Name: "b", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: []byte("old")}},
		},
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: system.Namespace(), Name: "certs"},
		Data:       map[string][]byte{certresources.CACert: []byte("new CA")},
	}
	client := fake.NewClientset(mwc, secret)
	mwcs := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	secrets := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	mwcs.Add(mwc)
	secrets.Add(secret)
	r := newLeadingReconciler(client, mwcs, secrets)

	if err := r.Reconcile(context.Background(), WebhookName); err != nil {
		t.Fatal(err)
	}
	got, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(context.Background(), WebhookName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range got.Webhooks {
		if string(h.ClientConfig.CABundle) != "new CA" {
			t.Errorf("webhook %s caBundle = %q", h.Name, h.ClientConfig.CABundle)
		}
	}
	if p := got.Webhooks[0].ClientConfig.Service.Path; p == nil || *p != Path {
		t.Errorf("the Service webhook's path = %v, want %s", p, Path)
	}
	if u := got.Webhooks[1].ClientConfig.URL; u == nil || *u != url {
		t.Errorf("the URL webhook's URL = %v, want it untouched", u)
	}

	// Nothing to change: no update.
	mwcs.Update(got)
	client.ClearActions()
	if err := r.Reconcile(context.Background(), WebhookName); err != nil {
		t.Fatal(err)
	}
	for _, a := range client.Actions() {
		if a.GetVerb() == "update" {
			t.Errorf("a configuration already current was updated: %v", a)
		}
	}
}

func TestReconcileWaitsForWhatIsMissing(t *testing.T) {
	empty := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	client := fake.NewClientset()
	r := newLeadingReconciler(client, empty, empty)
	if err := r.Reconcile(context.Background(), WebhookName); err != nil {
		t.Errorf("a missing Secret is waited for, not retried as an error: %v", err)
	}
	if len(client.Actions()) != 0 {
		t.Errorf("actions without a Secret: %v", client.Actions())
	}
}
