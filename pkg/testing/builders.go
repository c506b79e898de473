// Package testing builds Connectors, Secrets and Knative Services for tests
// of any part of the project, as knative/serving's pkg/testing does.
package testing

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
)

// ConnectorOption changes a Connector under construction.
type ConnectorOption func(*v1alpha1.Connector)

// NewConnector builds a Connector for namespace/name pointing at address with
// Secret secretName, then applies opts.
func NewConnector(namespace, name, address, secretName string, opts ...ConnectorOption) *v1alpha1.Connector {
	c := &v1alpha1.Connector{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:  namespace,
			Name:       name,
			UID:        types.UID("uid-" + name),
			Generation: 1,
		},
		Spec: v1alpha1.ConnectorSpec{
			ConnectorClassName: v1alpha1.ConnectorClassOCI,
			Address:            address,
			Auth: v1alpha1.ConnectorAuth{
				Name:      v1alpha1.AuthBasic,
				SecretRef: &v1alpha1.SecretReference{Name: secretName},
			},
		},
	}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

// WithRepositoryScope sets the auth param repository.
func WithRepositoryScope(glob string) ConnectorOption {
	return func(c *v1alpha1.Connector) {
		c.Spec.Auth.Params = append(c.Spec.Auth.Params, v1alpha1.Param{Name: v1alpha1.ParamRepository, Value: glob})
	}
}

// WithInitConditions sets every condition Unknown and the audience, as the
// first reconcile leaves them.
func WithInitConditions(c *v1alpha1.Connector) {
	c.Status.InitializeConditions()
	c.Status.Audience = c.Audience()
}

// WithObservedGeneration records that the status reflects the current spec.
func WithObservedGeneration(c *v1alpha1.Connector) {
	c.Status.ObservedGeneration = c.Generation
}

// WithSecretResolved marks SecretResolved True.
func WithSecretResolved(c *v1alpha1.Connector) {
	c.Status.MarkSecretResolved()
}

// WithSecretNotResolved marks SecretResolved False.
func WithSecretNotResolved(reason, message string) ConnectorOption {
	return func(c *v1alpha1.Connector) {
		c.Status.MarkSecretNotResolved(reason, "%s", message)
	}
}

// WithUpstreamAuthenticated marks UpstreamAuthenticated True.
func WithUpstreamAuthenticated(c *v1alpha1.Connector) {
	c.Status.MarkUpstreamAuthenticated()
}

// WithRequestTimeoutGranted marks RequestTimeout True: Knative allows the
// proxy the request timeout the controller asks for.
func WithRequestTimeoutGranted(c *v1alpha1.Connector) {
	c.Status.MarkRequestTimeoutGranted()
}

// WithUpstreamNotAuthenticated marks UpstreamAuthenticated False.
func WithUpstreamNotAuthenticated(reason, message string) ConnectorOption {
	return func(c *v1alpha1.Connector) {
		c.Status.MarkUpstreamNotAuthenticated(reason, "%s", message)
	}
}

// WithProxyStatusFrom propagates a Service's status.
func WithProxyStatusFrom(ksvc *servingv1.Service) ConnectorOption {
	return func(c *v1alpha1.Connector) {
		c.Status.PropagateServiceStatus(ksvc)
	}
}

// WithProxyNotOwned marks ProxyReady False for a foreign Service.
func WithProxyNotOwned(name string) ConnectorOption {
	return func(c *v1alpha1.Connector) {
		c.Status.MarkProxyNotOwned(name)
	}
}

// NewSecret builds an Opaque Secret with data.
func NewSecret(namespace, name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, UID: types.UID("uid-" + name), ResourceVersion: "1"},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{},
	}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

// ServiceOption changes a Knative Service.
type ServiceOption func(*servingv1.Service)

// WithServiceReady gives a Service a Ready status with URLs.
func WithServiceReady(url, clusterURL string) ServiceOption {
	return func(s *servingv1.Service) {
		s.Status.ObservedGeneration = s.Generation
		s.Status.Conditions = duckv1.Conditions{{Type: apis.ConditionReady, Status: corev1.ConditionTrue}}
		s.Status.URL = apis.HTTP(url)
		s.Status.Address = &duckv1.Addressable{URL: apis.HTTP(clusterURL)}
	}
}

// WithServiceFailed gives a Service a Ready=False status.
func WithServiceFailed(reason, message string) ServiceOption {
	return func(s *servingv1.Service) {
		s.Status.ObservedGeneration = s.Generation
		s.Status.Conditions = duckv1.Conditions{{Type: apis.ConditionReady, Status: corev1.ConditionFalse, Reason: reason, Message: message}}
	}
}

// ApplyServiceOptions applies opts to s and returns it.
func ApplyServiceOptions(s *servingv1.Service, opts ...ServiceOption) *servingv1.Service {
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// WithReady makes a Connector Ready with its proxy at proxyHost, as the
// reconciler leaves it once the Secret, the upstream and the proxy are good.
func WithReady(proxyHost string) ConnectorOption {
	return func(c *v1alpha1.Connector) {
		WithInitConditions(c)
		WithSecretResolved(c)
		WithUpstreamAuthenticated(c)
		ksvc := ApplyServiceOptions(&servingv1.Service{}, WithServiceReady(proxyHost, "c-"+c.Name+"."+c.Namespace+".svc.cluster.local"))
		WithProxyStatusFrom(ksvc)(c)
		WithObservedGeneration(c)
	}
}
