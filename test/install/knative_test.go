package install

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/reconcilers/connector/resources"
	rtesting "github.com/oci-connector/oci-connector/reconcilers/testing"
)

// proxyService is the Connector's proxy Knative Service as the controller
// wrote it.
func proxyService(t *testing.T, c *v1alpha1.Connector) *servingv1.Service {
	t.Helper()
	ksvc, err := serving.ServingV1().Services(c.Namespace).Get(context.Background(), resources.ServiceName(c), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the proxy Service of %s/%s: %v", c.Namespace, c.Name, err)
	}
	return ksvc
}

// validateAsKnative runs Knative Serving's own defaulting and validation on
// ksvc, as its webhook would on a create, under the data of Knative's
// config-defaults (nil: an install that left it alone).
func validateAsKnative(t *testing.T, ksvc *servingv1.Service, configDefaults map[string]string) {
	t.Helper()
	ctx, err := rtesting.KnativeConfigContext(apis.WithinCreate(context.Background()), configDefaults)
	if err != nil {
		t.Fatal(err)
	}
	ksvc = ksvc.DeepCopy()
	ksvc.SetDefaults(ctx)
	if err := ksvc.Validate(ctx); err != nil {
		t.Errorf("Knative (config-defaults %v) refuses Service %s/%s: %v", configDefaults, ksvc.Namespace, ksvc.Name, err)
	}
}
