package connectoradmission

import (
	"context"
	"testing"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"

	"github.com/oci-connector/oci-connector/pkg/apis/config"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	ctesting "github.com/oci-connector/oci-connector/pkg/testing"
)

// The webhooks cover Connectors, and validation sees the admin's
// configuration as the process's store carries it into the request's
// context: only a cluster Connector may select other namespaces.
func TestValidationReadsTheStoresConfig(t *testing.T) {
	if _, ok := types[v1alpha1.SchemeGroupVersion.WithKind("Connector")]; !ok {
		t.Fatal("the webhooks do not cover Connectors")
	}
	store := config.NewStore(zap.NewNop().Sugar())
	store.OnConfigChanged(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: config.ConfigName},
		Data: map[string]string{config.ClusterConnectorNamespacesKey: "platform"}})
	selectingAll := func(namespace string) *v1alpha1.Connector {
		c := ctesting.NewConnector(namespace, "harbor", "https://harbor.example.com", "s")
		c.Spec.PullSecrets = &v1alpha1.PullSecretsSpec{NamespaceSelector: &metav1.LabelSelector{}}
		return c
	}
	ctx := store.ToContext(apis.WithinCreate(context.Background()))
	if err := selectingAll("team-a").Validate(ctx); err == nil {
		t.Error("a namespaced Connector selecting every namespace was allowed")
	}
	if err := selectingAll("platform").Validate(ctx); err != nil {
		t.Errorf("a cluster Connector selecting every namespace: %v", err)
	}
}
