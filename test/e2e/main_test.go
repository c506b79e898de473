// Package e2e runs oci-connector against real parts: kube-apiserver and etcd,
// distribution registries, and the controller in-process.
package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	servingclientset "knative.dev/serving/pkg/client/clientset/versioned"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	connectorclientset "github.com/oci-connector/oci-connector/pkg/client/clientset/versioned"
	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/reconcilers/connector"
	"github.com/oci-connector/oci-connector/reconcilers/connector/resources"
	"github.com/oci-connector/oci-connector/test/auditproc"
	"github.com/oci-connector/oci-connector/test/controlplane"
	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/kube"
)

// One control plane for the package: starting it costs seconds.
var (
	cluster    *kube.Cluster
	connectors connectorclientset.Interface
	serving    servingclientset.Interface
)

// auditReaderToken may read every namespace's audit trail.
var auditReaderToken string

// tokenrefreshServer is the tokenrefresh binary all tests share; its log
// is the first thing to read when a pull secret does not come.
var tokenrefreshServer *harness.Server

// installAudit is the install's audit function (AUDIT_URL).
var installAudit *auditproc.Proc

// testImage stands in for the ko-built proxy image.
const testImage = "registry.example.com/oci-connector/proxy:e2e"

func TestMain(m *testing.M) {
	runner := &harness.Runner{}
	cluster = kube.Start(runner)
	var err error
	if connectors, err = connectorclientset.NewForConfig(cluster.Config); err != nil {
		runner.Fatalf("connector client: %v", err)
	}
	if serving, err = servingclientset.NewForConfig(cluster.Config); err != nil {
		runner.Fatalf("serving client: %v", err)
	}
	// The controller runs as its own ServiceAccount with the shipped RBAC, so
	// every test also proves that config/'s ClusterRole is enough.
	cluster.ApplyConfig(runner, "100-namespace.yaml", "200-serviceaccount.yaml", "200-clusterrole.yaml",
		"200-clusterrole-proxy-access.yaml", "200-clusterrole-tokenrefresh.yaml", "200-clusterrole-audit.yaml", "200-clusterrole-csi.yaml",
		"200-tokenrequest-policy.yaml",
		"400-webhook-service.yaml")
	// Knative configured as the README asks, so the proxy gets its hour.
	if err := controlplane.SetKnativeDefaults(context.Background(), cluster.Client, map[string]string{
		"max-revision-timeout-seconds": fmt.Sprint(resources.DefaultTimeoutSeconds),
	}); err != nil {
		runner.Fatalf("%v", err)
	}
	// tokenrefresh runs as its own ServiceAccount with the shipped
	// ClusterRole, and takes the controller's refresh events.
	tokenrefresh := harness.FreeAddr(runner)
	// The install's audit function: the one address the controller and
	// tokenrefresh present their audit tokens to.
	installAudit = auditproc.Start(runner, cluster, "")
	tokenrefreshServer = harness.StartServer(runner, harness.GoBinary(runner, "./functions/tokenrefresh"), []string{
		"--listen", tokenrefresh, "--kubeconfig", cluster.KubeconfigAs(runner, "oci-connector", "oci-connector-tokenrefresh"),
		"--system-namespace", connectorapi.SystemNamespace,
		"--audit-token-file", auditproc.SenderTokenFile(runner, cluster, connectorapi.SystemNamespace, "oci-connector-tokenrefresh"),
		"--audit-url", installAudit.URL,
	}, nil, tokenrefresh)
	// Who reads the audit trail in the tests: bound to the shipped reader
	// role cluster-wide.
	cluster.BindClusterRole(runner, connectorapi.SystemNamespace, "audit-reader", "oci-connector-audit-reader", "")
	auditReaderToken = cluster.Token(runner, connectorapi.SystemNamespace, "audit-reader", "", time.Hour)
	controllerConfig := cluster.ConfigAs(runner, "oci-connector", "oci-connector-controller")
	controlplane.Start(runner, controllerConfig, controlplane.Options{Settings: connector.Settings{
		ProxyImage:            testImage,
		TimeoutSeconds:        resources.DefaultTimeoutSeconds,
		RecheckInterval:       connector.DefaultRecheckInterval,
		ServingNamespace:      controlplane.KnativeServingNamespace,
		TokenRefreshURL:       "http://" + tokenrefresh,
		AuditURL:              installAudit.URL,
		AuditTokenFile:        auditproc.SenderTokenFile(runner, cluster, connectorapi.SystemNamespace, "oci-connector-controller"),
		TokenRefreshTokenFile: cluster.TokenFile(runner, connectorapi.SystemNamespace, connectorapi.ControllerServiceAccount, events.TokenRefreshAudience),
	}})
	// The webhooks too, so every Connector a test writes is defaulted and
	// validated by them, as in a cluster.
	webhook := controlplane.StartWebhook(runner, controllerConfig, controlplane.Options{})
	webhook.Install(runner, cluster.Config)
	code := m.Run()
	runner.Close()
	os.Exit(code)
}

// waitFor polls until cond holds, or fails t with the last state seen.
func waitFor(t *testing.T, what string, cond func(ctx context.Context) (bool, string)) {
	t.Helper()
	harness.WaitFor(t, 60*time.Second, what, cond)
}

// waitForCondition waits until the Connector's condition has the status and reason.
func waitForCondition(t *testing.T, ns, name string, typ apis.ConditionType, status corev1.ConditionStatus, reason string) *v1alpha1.Connector {
	t.Helper()
	var got *v1alpha1.Connector
	waitFor(t, fmt.Sprintf("%s/%s %s=%s (%s)", ns, name, typ, status, reason), func(ctx context.Context) (bool, string) {
		c, err := connectors.ConnectorV1alpha1().Connectors(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		got = c
		cond := c.Status.GetCondition(typ)
		if cond == nil {
			return false, fmt.Sprintf("no %s condition: %+v", typ, c.Status.Conditions)
		}
		return cond.Status == status && (reason == "" || cond.Reason == reason) && c.Status.ObservedGeneration == c.Generation,
			fmt.Sprintf("%+v", c.Status.Conditions)
	})
	return got
}

// waitForService waits for the proxy Service of a Connector.
func waitForService(t *testing.T, ns, name string, cond func(*servingv1.Service) bool) *servingv1.Service {
	t.Helper()
	var got *servingv1.Service
	waitFor(t, "Service "+ns+"/"+name, func(ctx context.Context) (bool, string) {
		s, err := serving.ServingV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		got = s
		return cond == nil || cond(s), fmt.Sprintf("%+v", s.Spec.Template.Annotations)
	})
	return got
}

// actAsKnative marks a Service Ready, as Knative Serving's controller would.
func actAsKnative(t *testing.T, ksvc *servingv1.Service) {
	t.Helper()
	if err := controlplane.MarkServiceReady(context.Background(), serving, ksvc); err != nil {
		t.Fatal(err)
	}
}
