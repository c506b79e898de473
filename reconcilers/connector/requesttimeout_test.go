package connector

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgotesting "k8s.io/client-go/testing"
	"knative.dev/pkg/configmap"
	"knative.dev/pkg/controller"
	rtesting "knative.dev/pkg/reconciler/testing"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	. "github.com/oci-connector/oci-connector/pkg/testing"
	"github.com/oci-connector/oci-connector/reconcilers/connector/resources"
	. "github.com/oci-connector/oci-connector/reconcilers/testing"
)

// On a Knative that allows less than the controller asks for, the proxy
// gets Knative's maximum (so Knative accepts its Service), and the
// Connector says what that costs and how to raise it.
func TestRequestTimeoutFollowsKnativesMaximum(t *testing.T) {
	const knativeDefaultMax = 600
	c := connector(goodAddress)
	limited := resources.MakeService(c, c.Spec.WithDefaults(), resources.ServiceArgs{
		Image: testImage, TimeoutSeconds: knativeDefaultMax, SecretDigest: scryptDigest(goodSecret()),
	})
	withLimited := func(c *v1alpha1.Connector) {
		c.Status.MarkRequestTimeoutLimited(DefaultServingNamespace, knativeDefaultMax, resources.DefaultTimeoutSeconds)
	}
	message := connector(goodAddress, withLimited).Status.GetCondition(v1alpha1.ConditionRequestTimeout).Message
	for _, want := range []string{"max-revision-timeout-seconds is 600", "kubectl patch configmap/config-defaults -n knative-serving", `"3600"`} {
		if !strings.Contains(message, want) {
			t.Errorf("the condition's message %q does not say %q", message, want)
		}
	}

	table := rtesting.TableTest{{
		Name:        "Knative's default maximum: the proxy gets 600s and the Connector names the fix",
		Key:         testNS + "/" + testName,
		Objects:     []runtime.Object{connector(goodAddress), goodSecret(), proxyServiceAccount(), proxyBinding()},
		WantCreates: []runtime.Object{limited},
		WantStatusUpdates: []clientgotesting.UpdateActionImpl{{
			Object: connector(goodAddress, WithInitConditions, WithObservedGeneration, withLimited,
				WithSecretResolved, WithUpstreamAuthenticated, WithProxyStatusFrom(limited)),
		}},
		WantEvents: []string{
			rtesting.Eventf(corev1.EventTypeWarning, v1alpha1.ReasonLimitedByKnative, "%s", message),
			rtesting.Eventf(corev1.EventTypeNormal, "ServiceCreated", `Created proxy Service "c-harbor"`),
		},
	}}
	for i := range table {
		table[i].Ctx = ServingInstallContext(context.Background())
	}
	table.Test(t, MakeFactory(func(ctx context.Context, listers *Listers, _ configmap.Watcher) controller.Reconciler {
		return newTestReconcilerOnKnative(ctx, listers, knativeDefaultMax)
	}))
}
