package connector

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
	kubeclient "knative.dev/pkg/client/injection/kube/client"
	namespaceinformer "knative.dev/pkg/client/injection/kube/informers/core/v1/namespace"
	secretinformer "knative.dev/pkg/client/injection/kube/informers/core/v1/secret"
	serviceaccountinformer "knative.dev/pkg/client/injection/kube/informers/core/v1/serviceaccount"
	clusterrolebindinginformer "knative.dev/pkg/client/injection/kube/informers/rbac/v1/clusterrolebinding"
	"knative.dev/pkg/configmap"
	"knative.dev/pkg/controller"
	"knative.dev/pkg/logging"
	"knative.dev/pkg/resolver"
	servingclient "knative.dev/serving/pkg/client/injection/client"
	serviceinformer "knative.dev/serving/pkg/client/injection/informers/serving/v1/service"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	connectorinformer "github.com/oci-connector/oci-connector/pkg/client/injection/informers/connector/v1alpha1/connector"
	connectorreconciler "github.com/oci-connector/oci-connector/pkg/client/injection/reconciler/connector/v1alpha1/connector"
	"github.com/oci-connector/oci-connector/reconcilers/connector/upstream"
)

// NewController is the sharedmain constructor: the production upstream
// checker and settings from the environment.
func NewController(ctx context.Context, cmw configmap.Watcher) *controller.Impl {
	settings, err := SettingsFromEnv()
	if err != nil {
		logging.FromContext(ctx).Fatalw("Invalid controller settings", "error", err)
	}
	return NewControllerWith(ctx, cmw, upstream.RegclientChecker{}, settings)
}

// NewControllerWith builds the controller around a given upstream checker,
// so tests can run it in-process against their own registries.
func NewControllerWith(ctx context.Context, _ configmap.Watcher, checker upstream.Checker, settings Settings) *controller.Impl {
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
		checks:                   newUpstreamResults(),
		secretDigests:            newSecretDigests(),
		settings:                 settings,
		clock:                    time.Now,
		cloudEvents:              newCloudEvents(ctx),
	}
	impl := connectorreconciler.NewImpl(ctx, r)
	r.enqueueAfter = impl.EnqueueAfter
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
			if c, ok := obj.(*v1alpha1.Connector); ok {
				r.checks.Forget(c.UID)
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
	secretInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj interface{}) {
			if s, ok := obj.(*corev1.Secret); ok {
				r.secretDigests.Forget(s.UID)
			}
		},
	})

	// A ServiceAccount or Namespace that appears may need a pull secret now,
	// not at tokenrefresh's next sweep.
	serviceAccountInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { r.serviceAccountAdded(ctx, obj) },
	})
	namespaceInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { r.namespaceAdded(ctx, obj) },
	})
	return impl
}
