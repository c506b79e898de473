package controlplane

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrs "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
	servingconfig "knative.dev/serving/pkg/apis/config"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	servingclientset "knative.dev/serving/pkg/client/clientset/versioned"
)

// MarkServiceReady writes a Knative Service's status as Knative Serving's
// controller would once its revision is up: Ready, with an external URL under
// example.com and a cluster-local address. No Knative controller runs against
// the test API server, so tests and `make run` stand in for it with this.
func MarkServiceReady(ctx context.Context, client servingclientset.Interface, ksvc *servingv1.Service) error {
	return MarkServiceReadyAt(ctx, client, ksvc, nil)
}

// MarkServiceReadyAt is MarkServiceReady with the external URL a test
// chose: a proxy it runs, for clients that must reach it by the URL the
// Connector's status names. A nil url is the example.com one.
func MarkServiceReadyAt(ctx context.Context, client servingclientset.Interface, ksvc *servingv1.Service, url *apis.URL) error {
	if url == nil {
		url = apis.HTTP(ksvc.Name + "." + ksvc.Namespace + ".example.com")
	}
	ksvc = ksvc.DeepCopy()
	ksvc.Status.ObservedGeneration = ksvc.Generation
	ksvc.Status.Conditions = duckv1.Conditions{{
		Type: apis.ConditionReady, Status: corev1.ConditionTrue,
		LastTransitionTime: apis.VolatileTime{Inner: metav1.Now()},
	}}
	ksvc.Status.URL = url
	ksvc.Status.Address = &duckv1.Addressable{URL: apis.HTTP(ksvc.Name + "." + ksvc.Namespace + ".svc.cluster.local")}
	if _, err := client.ServingV1().Services(ksvc.Namespace).UpdateStatus(ctx, ksvc, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("marking Service %s/%s Ready: %w", ksvc.Namespace, ksvc.Name, err)
	}
	return nil
}

// KnativeServingNamespace is where Knative Serving keeps its configuration.
const KnativeServingNamespace = "knative-serving"

// SetKnativeDefaults writes Knative Serving's config-defaults with data, as
// an admin configures an install, creating its namespace if missing.
func SetKnativeDefaults(ctx context.Context, client kubernetes.Interface, data map[string]string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: KnativeServingNamespace}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrs.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", KnativeServingNamespace, err)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: servingconfig.DefaultsConfigName, Namespace: KnativeServingNamespace},
		Data:       data,
	}
	_, err := client.CoreV1().ConfigMaps(KnativeServingNamespace).Update(ctx, cm, metav1.UpdateOptions{})
	if apierrs.IsNotFound(err) {
		_, err = client.CoreV1().ConfigMaps(KnativeServingNamespace).Create(ctx, cm, metav1.CreateOptions{})
	}
	if err != nil {
		return fmt.Errorf("writing Knative's %s: %w", servingconfig.DefaultsConfigName, err)
	}
	return nil
}
