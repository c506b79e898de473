package connector

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgotesting "k8s.io/client-go/testing"
	"k8s.io/utils/clock"
	"k8s.io/utils/lru"
	kubeclient "knative.dev/pkg/client/injection/kube/client"
	"knative.dev/pkg/configmap"
	"knative.dev/pkg/controller"
	"knative.dev/pkg/logging"
	rtesting "knative.dev/pkg/reconciler/testing"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	servingclient "knative.dev/serving/pkg/client/injection/client"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	connectorclient "github.com/oci-connector/oci-connector/pkg/client/injection/client"
	connectorreconciler "github.com/oci-connector/oci-connector/pkg/client/injection/reconciler/connector/v1alpha1/connector"
	. "github.com/oci-connector/oci-connector/pkg/testing"
	"github.com/oci-connector/oci-connector/reconcilers/connector/resources"
	"github.com/oci-connector/oci-connector/reconcilers/connector/upstream"
	. "github.com/oci-connector/oci-connector/reconcilers/testing"
)

const (
	testNS      = "platform"
	testName    = "harbor"
	testSecret  = "harbor-secret"
	goodAddress = "https://harbor.example.com"
	testImage   = "example.com/oci-connector/proxy@sha256:0000000000000000000000000000000000000000000000000000000000000000"
)

var testSettings = Settings{
	ProxyImage:       testImage,
	TimeoutSeconds:   resources.DefaultTimeoutSeconds,
	RecheckInterval:  DefaultRecheckInterval,
	ServingNamespace: DefaultServingNamespace,
}

// fakeChecker answers upstream checks from a table of addresses.
type fakeChecker map[string]error

func (f fakeChecker) Check(_ context.Context, t upstream.Target) error {
	return f[t.Address]
}

var (
	errUnreachable  = fmt.Errorf("%w: cannot reach down.example.com: connection refused", upstream.ErrUnreachable)
	errUnauthorized = fmt.Errorf("%w: bad.example.com answered 401 Unauthorized; check the username and password in the Secret", upstream.ErrUnauthorized)
)

var checker = fakeChecker{
	"https://down.example.com": errUnreachable,
	"https://bad.example.com":  errUnauthorized,
}

func goodSecret() *corev1.Secret {
	return NewSecret(testNS, testSecret, map[string]string{"username": "robot", "password": "s3cret"})
}

func rotatedSecret() *corev1.Secret {
	s := NewSecret(testNS, testSecret, map[string]string{"username": "robot", "password": "n3w-s3cret"})
	s.ResourceVersion = "2"
	return s
}

func connector(address string, opts ...ConnectorOption) *v1alpha1.Connector {
	return NewConnector(testNS, testName, address, testSecret, opts...)
}

// desiredService is what MakeService yields for the Connector at address and secret.
func desiredService(address string, secret *corev1.Secret, opts ...ServiceOption) *servingv1.Service {
	c := connector(address)
	ksvc := resources.MakeService(c, c.Spec.WithDefaults(), resources.ServiceArgs{
		Image:          testImage,
		TimeoutSeconds: resources.DefaultTimeoutSeconds,
		SecretDigest:   scryptDigest(secret),
	})
	return ApplyServiceOptions(ksvc, opts...)
}

func TestReconcile(t *testing.T) {
	readyService := func() *servingv1.Service {
		return desiredService(goodAddress, goodSecret(), WithServiceReady("c-harbor.platform.example.com", "c-harbor.platform.svc.cluster.local"))
	}
	drifted := readyService()
	drifted.Spec.Template.Spec.Containers[0].Image = "evil.example.com/not-the-proxy:latest"
	drifted.Spec.Template.Annotations["autoscaling.knative.dev/min-scale"] = "0"
	repaired := readyService()
	repaired.Spec = desiredService(goodAddress, goodSecret()).Spec

	foreign := desiredService(goodAddress, goodSecret())
	foreign.OwnerReferences = nil

	table := rtesting.TableTest{{
		Name: "bad workqueue key",
		Key:  "too/many/parts",
	}, {
		Name: "key not found",
		Key:  "platform/missing",
	}, {
		Name:    "missing Secret: SecretResolved False, no Service",
		Key:     testNS + "/" + testName,
		Objects: []runtime.Object{connector(goodAddress)},
		WantStatusUpdates: []clientgotesting.UpdateActionImpl{{
			Object: connector(goodAddress, WithInitConditions, WithObservedGeneration,
				WithSecretNotResolved(v1alpha1.ReasonSecretNotFound,
					`Secret "harbor-secret" not found in namespace "platform"; create it with the keys username and password.`)),
		}},
		WantEvents: []string{
			rtesting.Eventf(corev1.EventTypeWarning, v1alpha1.ReasonSecretNotFound, `Secret "harbor-secret" not found`),
		},
	}, {
		Name: "Secret without password: SecretResolved False naming the key",
		Key:  testNS + "/" + testName,
		Objects: []runtime.Object{
			connector(goodAddress),
			NewSecret(testNS, testSecret, map[string]string{"username": "robot"}),
		},
		WantStatusUpdates: []clientgotesting.UpdateActionImpl{{
			Object: connector(goodAddress, WithInitConditions, WithObservedGeneration,
				WithSecretNotResolved(v1alpha1.ReasonSecretKeyMissing,
					`Secret "harbor-secret": missing key: password (or .dockerconfigjson with an entry for harbor.example.com).`)),
		}},
		WantEvents: []string{
			rtesting.Eventf(corev1.EventTypeWarning, v1alpha1.ReasonSecretKeyMissing,
				`Secret "harbor-secret": missing key: password (or .dockerconfigjson with an entry for harbor.example.com)`),
		},
	}, {
		Name:    "upstream unreachable: UpstreamAuthenticated False, the proxy still deployed",
		Key:     testNS + "/" + testName,
		Objects: []runtime.Object{connector("https://down.example.com"), goodSecret()},
		WantCreates: []runtime.Object{
			desiredService("https://down.example.com", goodSecret()),
			resources.MakeProxyServiceAccount(connector(goodAddress)),
			resources.MakeProxyBinding(testNS),
		},
		// The proxy's ClusterRoleBinding is cluster-scoped.
		SkipNamespaceValidation: true,
		WantStatusUpdates: []clientgotesting.UpdateActionImpl{{
			Object: connector("https://down.example.com", WithInitConditions, WithObservedGeneration, WithRequestTimeoutGranted, WithSecretResolved,
				WithUpstreamNotAuthenticated(v1alpha1.ReasonUnreachable, errUnreachable.Error()),
				WithProxyStatusFrom(desiredService("https://down.example.com", goodSecret()))),
		}},
		WantEvents: []string{
			rtesting.Eventf(corev1.EventTypeWarning, v1alpha1.ReasonUnreachable, "Upstream https://down.example.com: %v", errUnreachable),
			rtesting.Eventf(corev1.EventTypeNormal, "ServiceCreated", `Created proxy Service "c-harbor"`),
		},
	}, {
		Name:    "upstream refuses the credentials: Unauthorized",
		Key:     testNS + "/" + testName,
		Objects: []runtime.Object{connector("https://bad.example.com"), goodSecret()},
		WantCreates: []runtime.Object{
			desiredService("https://bad.example.com", goodSecret()),
			resources.MakeProxyServiceAccount(connector(goodAddress)),
			resources.MakeProxyBinding(testNS),
		},
		// The proxy's ClusterRoleBinding is cluster-scoped.
		SkipNamespaceValidation: true,
		WantStatusUpdates: []clientgotesting.UpdateActionImpl{{
			Object: connector("https://bad.example.com", WithInitConditions, WithObservedGeneration, WithRequestTimeoutGranted, WithSecretResolved,
				WithUpstreamNotAuthenticated(v1alpha1.ReasonUnauthorized, errUnauthorized.Error()),
				WithProxyStatusFrom(desiredService("https://bad.example.com", goodSecret()))),
		}},
		WantEvents: []string{
			rtesting.Eventf(corev1.EventTypeWarning, v1alpha1.ReasonUnauthorized, "Upstream https://bad.example.com: %v", errUnauthorized),
			rtesting.Eventf(corev1.EventTypeNormal, "ServiceCreated", `Created proxy Service "c-harbor"`),
		},
	}, {
		Name:    "happy path creates the Service; ProxyReady waits for it",
		Key:     testNS + "/" + testName,
		Objects: []runtime.Object{connector(goodAddress), goodSecret()},
		WantCreates: []runtime.Object{
			desiredService(goodAddress, goodSecret()),
			resources.MakeProxyServiceAccount(connector(goodAddress)),
			resources.MakeProxyBinding(testNS),
		},
		// The proxy's ClusterRoleBinding is cluster-scoped.
		SkipNamespaceValidation: true,
		WantStatusUpdates: []clientgotesting.UpdateActionImpl{{
			Object: connector(goodAddress, WithInitConditions, WithObservedGeneration, WithRequestTimeoutGranted, WithSecretResolved, WithUpstreamAuthenticated,
				WithProxyStatusFrom(desiredService(goodAddress, goodSecret()))),
		}},
		WantEvents: []string{
			rtesting.Eventf(corev1.EventTypeNormal, "ServiceCreated", `Created proxy Service "c-harbor"`),
		},
	}, {
		Name: "Service not ready: ProxyReady False with its reason",
		Key:  testNS + "/" + testName,
		Objects: []runtime.Object{
			connector(goodAddress), goodSecret(), proxyServiceAccount(), proxyBinding(),
			desiredService(goodAddress, goodSecret(), WithServiceFailed("RevisionMissing", "image pull failed")),
		},
		WantStatusUpdates: []clientgotesting.UpdateActionImpl{{
			Object: connector(goodAddress, WithInitConditions, WithObservedGeneration, WithRequestTimeoutGranted, WithSecretResolved, WithUpstreamAuthenticated,
				WithProxyStatusFrom(desiredService(goodAddress, goodSecret(), WithServiceFailed("RevisionMissing", "image pull failed")))),
		}},
	}, {
		Name:    "Service ready: Connector Ready with the Service's URLs",
		Key:     testNS + "/" + testName,
		Objects: []runtime.Object{connector(goodAddress), goodSecret(), proxyServiceAccount(), proxyBinding(), readyService()},
		WantStatusUpdates: []clientgotesting.UpdateActionImpl{{
			Object: connector(goodAddress, WithInitConditions, WithObservedGeneration, WithRequestTimeoutGranted, WithSecretResolved, WithUpstreamAuthenticated,
				WithProxyStatusFrom(readyService())),
		}},
		PostConditions: []func(*testing.T, *rtesting.TableRow){assertReady},
	}, {
		Name: "steady state: nothing to write",
		Key:  testNS + "/" + testName,
		Objects: []runtime.Object{
			connector(goodAddress, WithInitConditions, WithObservedGeneration, WithRequestTimeoutGranted, WithSecretResolved, WithUpstreamAuthenticated,
				WithProxyStatusFrom(readyService())),
			goodSecret(), proxyServiceAccount(), proxyBinding(), readyService(),
		},
	}, {
		Name:    "a drifted Service is put back",
		Key:     testNS + "/" + testName,
		Objects: []runtime.Object{connector(goodAddress), goodSecret(), proxyServiceAccount(), proxyBinding(), drifted},
		WantUpdates: []clientgotesting.UpdateActionImpl{{
			Object: repaired,
		}},
		WantStatusUpdates: []clientgotesting.UpdateActionImpl{{
			Object: connector(goodAddress, WithInitConditions, WithObservedGeneration, WithRequestTimeoutGranted, WithSecretResolved, WithUpstreamAuthenticated,
				WithProxyStatusFrom(repaired)),
		}},
		WantEvents: []string{
			rtesting.Eventf(corev1.EventTypeNormal, "ServiceUpdated", `Updated proxy Service "c-harbor"`),
		},
	}, {
		Name:    "a Secret rotation changes the digest annotation and rolls a revision",
		Key:     testNS + "/" + testName,
		Objects: []runtime.Object{connector(goodAddress), rotatedSecret(), proxyServiceAccount(), proxyBinding(), readyService()},
		WantUpdates: []clientgotesting.UpdateActionImpl{{
			Object: desiredService(goodAddress, rotatedSecret(), WithServiceReady("c-harbor.platform.example.com", "c-harbor.platform.svc.cluster.local")),
		}},
		WantStatusUpdates: []clientgotesting.UpdateActionImpl{{
			Object: connector(goodAddress, WithInitConditions, WithObservedGeneration, WithRequestTimeoutGranted, WithSecretResolved, WithUpstreamAuthenticated,
				WithProxyStatusFrom(desiredService(goodAddress, rotatedSecret(), WithServiceReady("c-harbor.platform.example.com", "c-harbor.platform.svc.cluster.local")))),
		}},
		WantEvents: []string{
			rtesting.Eventf(corev1.EventTypeNormal, "CredentialsRotated", `Secret "harbor-secret" changed; rolling a new proxy revision`),
			rtesting.Eventf(corev1.EventTypeNormal, "ServiceUpdated", `Updated proxy Service "c-harbor"`),
		},
	}, {
		Name:    "a Service of the same name that the Connector does not own is left alone",
		Key:     testNS + "/" + testName,
		Objects: []runtime.Object{connector(goodAddress), goodSecret(), proxyServiceAccount(), proxyBinding(), foreign},
		WantErr: true,
		WantStatusUpdates: []clientgotesting.UpdateActionImpl{{
			Object: connector(goodAddress, WithInitConditions, WithObservedGeneration, WithRequestTimeoutGranted, WithSecretResolved, WithUpstreamAuthenticated,
				WithProxyNotOwned("c-harbor")),
		}},
		WantEvents: []string{
			rtesting.Eventf(corev1.EventTypeWarning, "InternalError", `connector "harbor" does not own Service "c-harbor"`),
		},
	}, {
		Name:    "Service create fails: the error is reported",
		Key:     testNS + "/" + testName,
		Objects: []runtime.Object{connector(goodAddress), goodSecret(), proxyServiceAccount(), proxyBinding()},
		WithReactors: []clientgotesting.ReactionFunc{
			rtesting.InduceFailure("create", "services"),
		},
		WantErr: true,
		WantCreates: []runtime.Object{
			desiredService(goodAddress, goodSecret()),
		},
		WantStatusUpdates: []clientgotesting.UpdateActionImpl{{
			Object: connector(goodAddress, WithInitConditions, WithObservedGeneration, WithRequestTimeoutGranted, WithSecretResolved, WithUpstreamAuthenticated),
		}},
		WantEvents: []string{
			rtesting.Eventf(corev1.EventTypeWarning, "InternalError", `creating Service "c-harbor": inducing failure for create services`),
		},
	}, {
		Name: "a proxy ServiceAccount made for another Connector gains this one as owner",
		Key:  testNS + "/" + testName,
		Objects: []runtime.Object{
			connector(goodAddress), goodSecret(), proxyBinding(), readyService(),
			resources.MakeProxyServiceAccount(NewConnector(testNS, "other", goodAddress, testSecret)),
		},
		WantUpdates: []clientgotesting.UpdateActionImpl{{
			Object: withOwners(resources.MakeProxyServiceAccount(NewConnector(testNS, "other", goodAddress, testSecret)), connector(goodAddress)),
		}},
		WantStatusUpdates: []clientgotesting.UpdateActionImpl{{
			Object: connector(goodAddress, WithInitConditions, WithObservedGeneration, WithRequestTimeoutGranted, WithSecretResolved, WithUpstreamAuthenticated,
				WithProxyStatusFrom(readyService())),
		}},
	}, {
		Name:    "the proxy ServiceAccount cannot be created: the error is reported, no Service",
		Key:     testNS + "/" + testName,
		Objects: []runtime.Object{connector(goodAddress), goodSecret()},
		WithReactors: []clientgotesting.ReactionFunc{
			rtesting.InduceFailure("create", "serviceaccounts"),
		},
		WantErr: true,
		WantCreates: []runtime.Object{
			resources.MakeProxyServiceAccount(connector(goodAddress)),
		},
		WantStatusUpdates: []clientgotesting.UpdateActionImpl{{
			Object: connector(goodAddress, WithInitConditions, WithObservedGeneration, WithSecretResolved, WithUpstreamAuthenticated),
		}},
		WantEvents: []string{
			rtesting.Eventf(corev1.EventTypeWarning, "InternalError", `creating ServiceAccount "oci-connector-proxy": inducing failure for create serviceaccounts`),
		},
	}}

	for i := range table {
		table[i].Ctx = ServingInstallContext(context.Background())
	}
	table.Test(t, MakeFactory(func(ctx context.Context, listers *Listers, _ configmap.Watcher) controller.Reconciler {
		return newTestReconciler(ctx, listers)
	}))
}

// newTestReconciler wires a Reconciler to the table's fakes, on a Knative
// that allows the request timeout the controller asks for.
func newTestReconciler(ctx context.Context, listers *Listers) controller.Reconciler {
	return newTestReconcilerOnKnative(ctx, listers, resources.DefaultTimeoutSeconds)
}

// newTestReconcilerOnKnative wires a Reconciler to the table's fakes, on a
// Knative whose max-revision-timeout-seconds is knativeMaxTimeout.
func newTestReconcilerOnKnative(ctx context.Context, listers *Listers, knativeMaxTimeout int64) controller.Reconciler {
	r := &Reconciler{
		kubeClient:               kubeclient.Get(ctx),
		servingClient:            servingclient.Get(ctx),
		secretLister:             listers.GetSecretLister(),
		serviceLister:            listers.GetServiceLister(),
		serviceAccountLister:     listers.GetServiceAccountLister(),
		clusterRoleBindingLister: listers.GetClusterRoleBindingLister(),
		tracker:                  &rtesting.FakeTracker{},
		checker:                  checker,
		checks:                   newCheckResults(),
		cacheChecks:              newCheckResults(),
		secretDigests:            newSecretDigests(),
		settings:                 testSettings,
		servingDefaults:          newServingDefaults(knativeMaxTimeout),
		clock:                    clock.RealClock{},
		refreshed:                lru.New(refreshedCacheSize),
	}
	return connectorreconciler.NewReconciler(ctx, logging.FromContext(ctx), connectorclient.Get(ctx),
		listers.GetConnectorLister(), controller.GetEventRecorder(ctx), r)
}

func assertReady(t *testing.T, row *rtesting.TableRow) {
	t.Helper()
	got, err := connectorclient.Get(row.Ctx).ConnectorV1alpha1().Connectors(testNS).Get(row.Ctx, testName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading back the Connector: %v", err)
	}
	if !got.Status.IsReady() {
		t.Errorf("Connector not Ready: %+v", got.Status.Conditions)
	}
	if got.Status.URL.String() != "http://c-harbor.platform.example.com" {
		t.Errorf("status.url = %s", got.Status.URL)
	}
	if got.Status.Address == nil || got.Status.Address.URL.String() != "http://c-harbor.platform.svc.cluster.local" {
		t.Errorf("status.address = %v", got.Status.Address)
	}
}

func proxyServiceAccount() *corev1.ServiceAccount {
	return resources.MakeProxyServiceAccount(connector(goodAddress))
}

func proxyBinding() *rbacv1.ClusterRoleBinding {
	return resources.MakeProxyBinding(testNS)
}

func withOwners(sa *corev1.ServiceAccount, owners ...*v1alpha1.Connector) *corev1.ServiceAccount {
	for _, o := range owners {
		sa.OwnerReferences = append(sa.OwnerReferences, resources.OwnerReference(o))
	}
	return sa
}
