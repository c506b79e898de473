package install

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	servingconfig "knative.dev/serving/pkg/apis/config"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/test/controlplane"
	"github.com/oci-connector/oci-connector/test/registry"
)

// On a default Knative (no config-defaults: a 600s maximum) the proxy asks
// for what Knative allows, so Knative accepts its Service, and the
// Connector names the fix. Raising Knative's maximum gives the proxy its
// hour, without restarting the controller.
func TestRequestTimeoutFollowsKnativesDefaults(t *testing.T) {
	ns := "timeout"
	cluster.EnsureNamespace(t, ns)
	reg := registry.NewHtpasswd(t)
	c := controlplane.ReadyConnector(t, cluster.Config, connectorFor(ns, "harbor", reg), registry.SecretData(), func(string) {})

	ksvc := proxyService(t, c)
	if got := *ksvc.Spec.Template.Spec.TimeoutSeconds; got != servingconfig.DefaultMaxRevisionTimeoutSeconds {
		t.Errorf("on a default Knative the proxy asks for %ds, want Knative's maximum %d", got, servingconfig.DefaultMaxRevisionTimeoutSeconds)
	}
	validateAsKnative(t, ksvc, nil)
	cond := c.Status.GetCondition(v1alpha1.ConditionRequestTimeout)
	if cond == nil || cond.Status != corev1.ConditionFalse || cond.Reason != v1alpha1.ReasonLimitedByKnative ||
		!strings.Contains(cond.Message, "kubectl patch configmap/config-defaults -n knative-serving") {
		t.Errorf("RequestTimeout = %+v, want False (%s) naming the kubectl patch", cond, v1alpha1.ReasonLimitedByKnative)
	}
	if !c.Status.IsReady() {
		t.Error("a capped request timeout made the Connector not Ready; it only cuts off the largest layers")
	}
	waitFor(t, "a LimitedByKnative event on the Connector", func(ctx context.Context) (bool, string) {
		evs, err := cluster.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=harbor,reason=" + v1alpha1.ReasonLimitedByKnative})
		if err != nil {
			return false, err.Error()
		}
		return len(evs.Items) > 0, fmt.Sprintf("%d events", len(evs.Items))
	})

	raised := map[string]string{"max-revision-timeout-seconds": "3600"}
	if err := controlplane.SetKnativeDefaults(context.Background(), cluster.Client, raised); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cluster.Client.CoreV1().ConfigMaps(controlplane.KnativeServingNamespace).Delete(context.Background(), servingconfig.DefaultsConfigName, metav1.DeleteOptions{})
	})
	waitFor(t, "the proxy's timeout raised to 3600s and RequestTimeout True", func(ctx context.Context) (bool, string) {
		got, err := connectors.ConnectorV1alpha1().Connectors(ns).Get(ctx, "harbor", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		ksvc = proxyService(t, got)
		cond := got.Status.GetCondition(v1alpha1.ConditionRequestTimeout)
		return *ksvc.Spec.Template.Spec.TimeoutSeconds == 3600 && cond != nil && cond.Status == corev1.ConditionTrue,
			fmt.Sprintf("timeoutSeconds %d, RequestTimeout %+v", *ksvc.Spec.Template.Spec.TimeoutSeconds, cond)
	})
	validateAsKnative(t, ksvc, raised)
}
