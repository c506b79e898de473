package connector

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	namespaceinformer "knative.dev/pkg/client/injection/kube/informers/core/v1/namespace"
	secretinformer "knative.dev/pkg/client/injection/kube/informers/core/v1/secret"
	serviceaccountinformer "knative.dev/pkg/client/injection/kube/informers/core/v1/serviceaccount"
	clusterrolebindinginformer "knative.dev/pkg/client/injection/kube/informers/rbac/v1/clusterrolebinding"
	rolebindinginformer "knative.dev/pkg/client/injection/kube/informers/rbac/v1/rolebinding"
	"knative.dev/pkg/controller"
	serviceinformer "knative.dev/serving/pkg/client/injection/informers/serving/v1/service"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	connectorinformer "github.com/oci-connector/oci-connector/pkg/client/injection/informers/connector/v1alpha1/connector"
)

// watch wires the informers' events to the reconciler: what wakes a
// Connector, and what calls for a pull-secret refresh.
func (r *Reconciler) watch(ctx context.Context, impl *controller.Impl) {
	connectorInformer := connectorinformer.Get(ctx)
	serviceInformer := serviceinformer.Get(ctx)
	secretInformer := secretinformer.Get(ctx)
	serviceAccountInformer := serviceaccountinformer.Get(ctx)
	clusterRoleBindingInformer := clusterrolebindinginformer.Get(ctx)
	namespaceInformer := namespaceinformer.Get(ctx)
	roleBindingInformer := rolebindinginformer.Get(ctx)

	connectorInformer.Informer().AddEventHandler(controller.HandleAll(impl.Enqueue))
	connectorInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj interface{}) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if c, ok := obj.(*v1alpha1.Connector); ok {
				r.checks.Forget(c.UID)
				r.cacheChecks.Forget(c.UID)
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
}
