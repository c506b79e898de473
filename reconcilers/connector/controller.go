package connector

import (
	"context"

	"k8s.io/utils/clock"
	"k8s.io/utils/lru"
	kubeclient "knative.dev/pkg/client/injection/kube/client"
	namespaceinformer "knative.dev/pkg/client/injection/kube/informers/core/v1/namespace"
	secretinformer "knative.dev/pkg/client/injection/kube/informers/core/v1/secret"
	serviceaccountinformer "knative.dev/pkg/client/injection/kube/informers/core/v1/serviceaccount"
	clusterrolebindinginformer "knative.dev/pkg/client/injection/kube/informers/rbac/v1/clusterrolebinding"
	"knative.dev/pkg/configmap"
	"knative.dev/pkg/controller"
	"knative.dev/pkg/logging"
	"knative.dev/pkg/resolver"
	"knative.dev/pkg/system"
	servingclient "knative.dev/serving/pkg/client/injection/client"
	serviceinformer "knative.dev/serving/pkg/client/injection/informers/serving/v1/service"

	"github.com/oci-connector/oci-connector/pkg/apis/config"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	connectorinformer "github.com/oci-connector/oci-connector/pkg/client/injection/informers/connector/v1alpha1/connector"
	connectorreconciler "github.com/oci-connector/oci-connector/pkg/client/injection/reconciler/connector/v1alpha1/connector"
	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/reconcilers/connector/upstream"
)

// NewController is the sharedmain constructor: the production upstream
// checker and settings from the environment.
func NewController(ctx context.Context, cmw configmap.Watcher) *controller.Impl {
	settings, err := SettingsFromEnv(system.Namespace())
	if err != nil {
		logging.FromContext(ctx).Fatalw("Invalid controller settings", "error", err)
	}
	return NewControllerWith(ctx, cmw, upstream.RegistryChecker{}, settings)
}

// NewControllerWith builds the controller around a given upstream checker,
// so tests can run it in-process against their own registries.
func NewControllerWith(ctx context.Context, cmw configmap.Watcher, checker upstream.Checker, settings Settings) *controller.Impl {
	connectorInformer := connectorinformer.Get(ctx)
	serviceInformer := serviceinformer.Get(ctx)
	secretInformer := secretinformer.Get(ctx)
	serviceAccountInformer := serviceaccountinformer.Get(ctx)
	clusterRoleBindingInformer := clusterrolebindinginformer.Get(ctx)
	namespaceInformer := namespaceinformer.Get(ctx)

	r := &Reconciler{
		kubeClient:               kubeclient.Get(ctx),
		servingClient:            servingclient.Get(ctx),
		secretLister:             secretInformer.Lister(),
		serviceLister:            serviceInformer.Lister(),
		serviceAccountLister:     serviceAccountInformer.Lister(),
		clusterRoleBindingLister: clusterRoleBindingInformer.Lister(),
		connectorLister:          connectorInformer.Lister(),
		namespaceLister:          namespaceInformer.Lister(),
		checker:                  checker,
		checks:                   newCheckResults(),
		cacheChecks:              newCheckResults(),
		secretDigests:            newSecretDigests(),
		settings:                 settings,
		clock:                    clock.RealClock{},
		senders:                  events.NewSenders(ctx, events.SenderOptions{Logger: logging.FromContext(ctx), Credentials: settings.Credentials()}),
		refreshed:                lru.New(refreshedCacheSize),
	}
	// The admin's configuration, shared with the webhooks of this process;
	// ReconcileKind reads it with config.FromContext.
	store := config.StoreFor(cmw, logging.FromContext(ctx))
	impl := connectorreconciler.NewImpl(ctx, r, func(*controller.Impl) controller.Options {
		return controller.Options{ConfigStore: store}
	})
	r.tracker = impl.Tracker
	r.sinkResolver = resolver.NewURIResolverFromTracker(ctx, impl.Tracker)
	defaults, err := watchServingDefaults(ctx, r.kubeClient, settings.ServingNamespace, func() {
		impl.GlobalResync(connectorInformer.Informer())
	})
	if err != nil {
		logging.FromContext(ctx).Fatalw("Cannot follow Knative's defaults", "error", err)
	}
	r.servingDefaults = defaults

	r.watch(ctx, impl)

	// Which Connectors serve the cluster decides where pull secrets may be:
	// a change calls for a refresh of every Connector with pull secrets.
	// It also decides which proxies accept the node audience.
	store.OnChange(func() {
		impl.GlobalResync(connectorInformer.Informer())
		r.announce(ctx, func(*v1alpha1.Connector, *v1alpha1.PullSecretsSpec) bool { return true }, events.RefreshTrustChanged, "")
	})
	return impl
}
