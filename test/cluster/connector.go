package cluster

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	duckv1 "knative.dev/pkg/apis/duck/v1"
	servingclientset "knative.dev/serving/pkg/client/clientset/versioned"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	connectorclientset "github.com/oci-connector/oci-connector/pkg/client/clientset/versioned"
	"github.com/oci-connector/oci-connector/reconcilers/connector/resources"
	"github.com/oci-connector/oci-connector/test/controlplane"
	"github.com/oci-connector/oci-connector/test/harness"
)

// BasicConnector is a Connector in front of the registry at address, with
// Basic auth from the Secret <name>-upstream.
func BasicConnector(ns, name, address string) *v1alpha1.Connector {
	return &v1alpha1.Connector{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.ConnectorSpec{
			ConnectorClassName: v1alpha1.ConnectorClassOCI,
			Address:            address,
			Auth:               v1alpha1.ConnectorAuth{Name: v1alpha1.AuthBasic, SecretRef: &v1alpha1.SecretReference{Name: name + "-upstream"}},
		},
	}
}

// ReadyConnector creates conn and its Secret (named by its secretRef) with
// secretData, and waits until the installed controller and Knative have
// made it Ready: its proxy a Ready Knative revision behind Traefik. The
// node reaches its URL over plain HTTP from then on.
func (c *Cluster) ReadyConnector(t harness.T, conn *v1alpha1.Connector, secretData map[string]string) *v1alpha1.Connector {
	t.Helper()
	ns, name := conn.Namespace, conn.Name
	controlplane.CreateConnector(t, c.Kube.Config, conn, secretData)
	connectors := connectorclientset.NewForConfigOrDie(c.Kube.Config)
	serving := servingclientset.NewForConfigOrDie(c.Kube.Config)
	start := time.Now()
	var ready *v1alpha1.Connector
	harness.WaitFor(t, 3*time.Minute, fmt.Sprintf("Connector %s/%s Ready", ns, name), func(ctx context.Context) (bool, string) {
		got, err := connectors.ConnectorV1alpha1().Connectors(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if got.Status.IsReady() && got.Status.URL != nil {
			ready = got
			return true, ""
		}
		state := "Connector: " + conditions(got.Status.Conditions)
		if ksvc, err := serving.ServingV1().Services(ns).Get(ctx, resources.ServiceName(got), metav1.GetOptions{}); err == nil {
			state += "\nKnative Service: " + conditions(ksvc.Status.Conditions)
		}
		return false, state + "\n" + c.podsState(ctx, ns)
	})
	c.logf("cluster: Connector %s/%s Ready at %s in %s", ns, name, ready.Status.URL, time.Since(start).Round(100*time.Millisecond))
	c.Node.AddPlainHTTPHost(t, ready.Status.URL.Host)
	return ready
}

// conditions spells conditions on one line.
func conditions(conds duckv1.Conditions) string {
	s := ""
	for _, cond := range conds {
		s += fmt.Sprintf("%s=%s", cond.Type, cond.Status)
		if cond.Reason != "" {
			s += fmt.Sprintf("(%s: %s)", cond.Reason, cond.Message)
		}
		s += " "
	}
	return s
}
