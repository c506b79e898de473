package connector

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	"k8s.io/utils/lru"
	kubeclient "knative.dev/pkg/client/injection/kube/client"
	namespaceinformer "knative.dev/pkg/client/injection/kube/informers/core/v1/namespace"
	secretinformer "knative.dev/pkg/client/injection/kube/informers/core/v1/secret"
	serviceaccountinformer "knative.dev/pkg/client/injection/kube/informers/core/v1/serviceaccount"
	clusterrolebindinginformer "knative.dev/pkg/client/injection/kube/informers/rbac/v1/clusterrolebinding"
	rolebindinginformer "knative.dev/pkg/client/injection/kube/informers/rbac/v1/rolebinding"
	"knative.dev/pkg/configmap"
	"knative.dev/pkg/controller"
	"knative.dev/pkg/logging"
	"knative.dev/pkg/resolver"
	servingclient "knative.dev/serving/pkg/client/injection/client"
	serviceinformer "knative.dev/serving/pkg/client/injection/informers/serving/v1/service"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	connectorinformer "github.com/oci-connector/oci-connector/pkg/client/injection/informers/connector/v1alpha1/connector"
	connectorreconciler "github.com/oci-connector/oci-connector/pkg/client/injection/reconciler/connector/v1alpha1/connector"
	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/pkg/trust"
	"github.com/oci-connector/oci-connector/reconcilers/connector/upstream"
)

// NewController is the sharedmain constructor: the production upstream
// checker and settings from the environment.
func NewController(ctx context.Context, cmw configmap.Watcher) *controller.Impl {
	settings, err := SettingsFromEnv()
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
	roleBindingInformer := rolebindinginformer.Get(ctx)

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
		checks:                   newUpstreamResults(),
		secretDigests:            newSecretDigests(),
		settings:                 settings,
		clock:                    clock.RealClock{},
		senders:                  events.NewSenders(ctx, events.SenderOptions{Logger: logging.FromContext(ctx), Credentials: settings.Credentials()}),
		refreshed:                lru.New(refreshedCacheSize),
	}
	impl := connectorreconciler.NewImpl(ctx, r)
	r.tracker = impl.Tracker
	r.sinkResolver = resolver.NewURIResolverFromTracker(ctx, impl.Tracker)
	defaults, err := watchServingDefaults(ctx, r.kubeClient, settings.ServingNamespace, func() {
		impl.GlobalResync(connectorInformer.Informer())
	})
	if err != nil {
		logging.FromContext(ctx).Fatalw("Cannot follow Knative's defaults", "error", err)
	}
	r.servingDefaults = defaults

	connectorInformer.Informer().AddEventHandler(controller.HandleAll(impl.Enqueue))
	connectorInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj interface{}) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if c, ok := obj.(*v1alpha1.Connector); ok {
				r.checks.Forget(c.UID)
				r.connectorDeleted(ctx, c)
			}
		},
	})

	// A change to a proxy Service wakes its Connector.
	serviceInformer.Informer().AddEventHandler(cache.FilteringResourceEventHandler{
		FilterFunc: controller.FilterController(&v1alpha1.Connector{}),
		Handler:    controller.HandleAll(impl.EnqueueControllerOf),
	})

	// A change to a tracked Secret wakes the Connectors that use it.
	secretInformer.Informer().AddEventHandler(controller.HandleAll(
		controller.EnsureTypeMeta(impl.Tracker.OnChanged, corev1.SchemeGroupVersion.WithKind("Secret")),
	))
	// A pull secret written or removed wakes its Connector, which schedules
	// the next renewal.
	enqueueConnector := func(namespace, name string) {
		impl.EnqueueKey(types.NamespacedName{Namespace: namespace, Name: name})
	}
	secretInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.pullSecretSeen(ctx, obj, enqueueConnector) },
		UpdateFunc: func(_, obj any) { r.pullSecretSeen(ctx, obj, enqueueConnector) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if s, ok := obj.(*corev1.Secret); ok {
				r.secretDigests.Forget(s.UID)
				r.pullSecretSeen(ctx, s, enqueueConnector)
			}
		},
	})

	// A ServiceAccount or Namespace that appears, or a namespace whose
	// labels change, may call for a pull secret now.
	serviceAccountInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { r.serviceAccountAdded(ctx, obj) },
	})
	namespaceInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.namespaceAdded(ctx, obj) },
		UpdateFunc: func(oldObj, newObj any) { r.namespaceUpdated(ctx, oldObj, newObj) },
	})
	// So may a binding that grants or revokes pull.
	bindings := r.bindingEvents(ctx)
	roleBindingInformer.Informer().AddEventHandler(bindings)
	clusterRoleBindingInformer.Informer().AddEventHandler(bindings)

	// Which Connectors serve the cluster decides where pull secrets may be:
	// a change calls for a refresh of every Connector with pull secrets.
	// It also decides which proxies accept the node audience.
	r.tenancy = trust.NewStore(func(*trust.Config) {
		impl.GlobalResync(connectorInformer.Informer())
		r.announce(ctx, func(*v1alpha1.Connector, *v1alpha1.PullSecretsSpec) bool { return true }, events.RefreshTrustChanged, "")
	})
	r.tenancy.WatchConfigs(cmw)
	return impl
}
