package controlplane

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"knative.dev/pkg/apis"
	servingclientset "knative.dev/serving/pkg/client/clientset/versioned"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	connectorclientset "github.com/oci-connector/oci-connector/pkg/client/clientset/versioned"
	"github.com/oci-connector/oci-connector/reconcilers/connector/resources"
	"github.com/oci-connector/oci-connector/test/harness"
)

// ReadyConnector creates c and its Secret (named by c's secretRef) with
// secretData, then, with the controller running, stands in for Knative
// Serving until c is Ready. progress hears each change of c's conditions and
// each stand-in step.
func ReadyConnector(t harness.T, cfg *rest.Config, c *v1alpha1.Connector, secretData map[string]string, progress func(string)) *v1alpha1.Connector {
	t.Helper()
	return ReadyConnectorAt(t, cfg, c, secretData, nil, progress)
}

// ReadyConnectorAt is ReadyConnector with the proxy's external URL chosen
// (a proxy the test runs); nil is MarkServiceReady's example.com URL.
func ReadyConnectorAt(t harness.T, cfg *rest.Config, c *v1alpha1.Connector, secretData map[string]string, url *apis.URL, progress func(string)) *v1alpha1.Connector {
	t.Helper()
	ctx := context.Background()
	connectors := connectorclientset.NewForConfigOrDie(cfg)
	serving := servingclientset.NewForConfigOrDie(cfg)
	ns, name := c.Namespace, c.Name

	CreateConnector(t, cfg, c, secretData)

	var ready *v1alpha1.Connector
	last := ""
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		got, err := connectors.ConnectorV1alpha1().Connectors(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		if now := Conditions(got); now != last {
			progress(fmt.Sprintf("Connector %s/%s: %s", ns, name, now))
			last = now
		}
		if got.Status.IsReady() {
			ready = got
			return true, nil
		}
		ksvc, err := serving.ServingV1().Services(ns).Get(ctx, resources.ServiceName(c), metav1.GetOptions{})
		if err == nil && ksvc.Status.GetCondition(apis.ConditionReady) == nil {
			progress(fmt.Sprintf("proxy Service %s exists (image %s); standing in for Knative Serving, marking it Ready",
				ksvc.Name, ksvc.Spec.Template.Spec.Containers[0].Image))
			if err := MarkServiceReadyAt(ctx, serving, ksvc, url); err != nil {
				progress(fmt.Sprintf("%v; trying again", err))
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("Connector %s/%s did not become Ready within a minute; last: %s", ns, name, last)
	}
	return ready
}

// CreateConnector creates c and its Secret (named by c's secretRef) with
// secretData.
func CreateConnector(t harness.T, cfg *rest.Config, c *v1alpha1.Connector, secretData map[string]string) {
	t.Helper()
	ctx := context.Background()
	if _, err := kubernetes.NewForConfigOrDie(cfg).CoreV1().Secrets(c.Namespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: c.Spec.Auth.SecretRef.Name},
		StringData: secretData,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating the Secret of Connector %s/%s: %v", c.Namespace, c.Name, err)
	}
	if _, err := connectorclientset.NewForConfigOrDie(cfg).ConnectorV1alpha1().Connectors(c.Namespace).Create(ctx, c, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating Connector %s/%s: %v", c.Namespace, c.Name, err)
	}
}

// Conditions spells a Connector's conditions on one line.
func Conditions(c *v1alpha1.Connector) string {
	var parts []string
	for _, cond := range c.Status.Conditions {
		s := fmt.Sprintf("%s=%s", cond.Type, cond.Status)
		if cond.Reason != "" {
			s += "(" + cond.Reason + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}
