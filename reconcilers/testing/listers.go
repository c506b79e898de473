// Package testing holds the table-test machinery for oci-connector's
// reconcilers, after knative/serving's pkg/reconciler/testing/v1.
package testing

import (
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	fakekubeclientset "k8s.io/client-go/kubernetes/fake"
	corev1listers "k8s.io/client-go/listers/core/v1"
	rbacv1listers "k8s.io/client-go/listers/rbac/v1"
	"k8s.io/client-go/tools/cache"
	rtesting "knative.dev/pkg/reconciler/testing"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	fakeservingclientset "knative.dev/serving/pkg/client/clientset/versioned/fake"
	servinglisters "knative.dev/serving/pkg/client/listers/serving/v1"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	fakeconnectorclientset "github.com/oci-connector/oci-connector/pkg/client/clientset/versioned/fake"
	connectorlisters "github.com/oci-connector/oci-connector/pkg/client/listers/connector/v1alpha1"
)

var clientSetSchemes = []func(*runtime.Scheme) error{
	fakekubeclientset.AddToScheme,
	fakeservingclientset.AddToScheme,
	fakeconnectorclientset.AddToScheme,
}

// Listers serves a table row's objects through listers.
type Listers struct {
	sorter rtesting.ObjectSorter
}

// NewScheme returns a scheme with every type the reconcilers touch.
func NewScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	for _, addTo := range clientSetSchemes {
		if err := addTo(scheme); err != nil {
			panic(err)
		}
	}
	return scheme
}

// NewListers indexes objs.
func NewListers(objs []runtime.Object) Listers {
	ls := Listers{sorter: rtesting.NewObjectSorter(NewScheme())}
	ls.sorter.AddObjects(objs...)
	return ls
}

// IndexerFor returns the indexer for obj's type.
func (l *Listers) IndexerFor(obj runtime.Object) cache.Indexer {
	return l.sorter.IndexerForObjectType(obj)
}

// GetKubeObjects returns the objects of the Kubernetes clientset.
func (l *Listers) GetKubeObjects() []runtime.Object {
	return l.sorter.ObjectsForSchemeFunc(fakekubeclientset.AddToScheme)
}

// GetServingObjects returns the objects of the Knative Serving clientset.
func (l *Listers) GetServingObjects() []runtime.Object {
	return l.sorter.ObjectsForSchemeFunc(fakeservingclientset.AddToScheme)
}

// GetConnectorObjects returns the objects of our clientset.
func (l *Listers) GetConnectorObjects() []runtime.Object {
	return l.sorter.ObjectsForSchemeFunc(fakeconnectorclientset.AddToScheme)
}

// GetConnectorLister lists Connectors.
func (l *Listers) GetConnectorLister() connectorlisters.ConnectorLister {
	return connectorlisters.NewConnectorLister(l.IndexerFor(&v1alpha1.Connector{}))
}

// GetServiceLister lists Knative Services.
func (l *Listers) GetServiceLister() servinglisters.ServiceLister {
	return servinglisters.NewServiceLister(l.IndexerFor(&servingv1.Service{}))
}

// GetSecretLister lists Secrets.
func (l *Listers) GetSecretLister() corev1listers.SecretLister {
	return corev1listers.NewSecretLister(l.IndexerFor(&corev1.Secret{}))
}

// GetServiceAccountLister lists ServiceAccounts.
func (l *Listers) GetServiceAccountLister() corev1listers.ServiceAccountLister {
	return corev1listers.NewServiceAccountLister(l.IndexerFor(&corev1.ServiceAccount{}))
}

// GetNamespaceLister lists the Namespaces among the objects.
func (l *Listers) GetNamespaceLister() corev1listers.NamespaceLister {
	return corev1listers.NewNamespaceLister(l.IndexerFor(&corev1.Namespace{}))
}

// GetClusterRoleBindingLister lists ClusterRoleBindings.
func (l *Listers) GetClusterRoleBindingLister() rbacv1listers.ClusterRoleBindingLister {
	return rbacv1listers.NewClusterRoleBindingLister(l.IndexerFor(&rbacv1.ClusterRoleBinding{}))
}
