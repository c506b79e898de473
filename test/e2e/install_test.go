package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/yaml"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	rtesting "github.com/oci-connector/oci-connector/reconcilers/testing"
	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/kube"
	"github.com/oci-connector/oci-connector/test/registry"
	"github.com/oci-connector/oci-connector/test/shipped"
)

// Every manifest in config/ is accepted by a fresh API server, as on a
// cluster where oci-connector is installed for the first time (the shared
// one holds the test's own webhook configurations): the namespace is created
// for real (a dry run cannot make the objects inside it), then the whole
// directory is applied with --dry-run=server. ko:// images become a plain
// reference, as ko would make them.
func TestConfigAppliesWithServerDryRun(t *testing.T) {
	fresh := kube.Start(t)
	dir := shipped.Config(t, func(koPath string) string { return "registry.example.com/oci-connector/" + koPath })
	if out, err := fresh.Kubectl(t, "apply", "-f", filepath.Join(dir, "100-namespace.yaml")); err != nil {
		t.Fatalf("kubectl apply of the namespace: %v\n%s", err, out)
	}
	out, err := fresh.Kubectl(t, "apply", "--dry-run=server", "-f", dir)
	if err != nil {
		t.Fatalf("kubectl apply --dry-run=server -f config/: %v\n%s", err, out)
	}
	for _, want := range []string{
		"customresourcedefinition.apiextensions.k8s.io/connectors.oci-connector.dev",
		"clusterrole.rbac.authorization.k8s.io/oci-connector-puller",
		"clusterrole.rbac.authorization.k8s.io/oci-connector-pusher",
		"deployment.apps/oci-connector-controller",
		"service/" + connectorapi.WebhookServiceName,
		"secret/" + connectorapi.WebhookSecretName,
		"role.rbac.authorization.k8s.io/oci-connector-webhook-certs",
		"mutatingwebhookconfiguration.admissionregistration.k8s.io/defaulting.webhook.oci-connector.dev",
		"validatingwebhookconfiguration.admissionregistration.k8s.io/validation.webhook.oci-connector.dev",
		"mutatingwebhookconfiguration.admissionregistration.k8s.io/pods.webhook.oci-connector.dev",
		"service.serving.knative.dev/audit",
		"service.serving.knative.dev/tokenrefresh",
		"clusterrole.rbac.authorization.k8s.io/oci-connector-tokenrefresh",
		"clusterrole.rbac.authorization.k8s.io/oci-connector-addressable-resolver",
		"clusterrole.rbac.authorization.k8s.io/oci-connector-service-addressable-resolver",
		"clusterrolebinding.rbac.authorization.k8s.io/oci-connector-addressable-resolver",
		"configmap/config-logging",
		"configmap/config-observability",
		"configmap/config-oci-connector",
		"role.rbac.authorization.k8s.io/oci-connector-tokenrefresh",
		"rolebinding.rbac.authorization.k8s.io/oci-connector-tokenrefresh",
		"serviceaccount/oci-connector-audit",
		"clusterrole.rbac.authorization.k8s.io/oci-connector-audit",
		"csidriver.storage.k8s.io/" + connectorapi.CSIDriverName,
		"daemonset.apps/oci-connector-csi",
		"clusterrole.rbac.authorization.k8s.io/oci-connector-csi",
		"role.rbac.authorization.k8s.io/oci-connector-csi",
		"serviceaccount/oci-connector-csi",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl did not apply %s:\n%s", want, out)
		}
	}
}

// The CRD's schema refuses malformed Connectors even before the validating
// webhook runs, and kubectl shows the printer columns.
func TestConnectorCRDSchemaAndColumns(t *testing.T) {
	ns := "schema"
	cluster.EnsureNamespace(t, ns)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(`apiVersion: oci-connector.dev/v1alpha1
kind: Connector
metadata: {name: bad, namespace: schema}
spec:
  connectorClassName: git
  address: ftp://robot:pw@harbor.example.com
  auth: {name: oauth}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := cluster.Kubectl(t, "apply", "-f", bad)
	if err == nil {
		t.Fatalf("a malformed Connector was accepted:\n%s", out)
	}
	for _, field := range []string{"spec.connectorClassName", "spec.address", "spec.auth.name", "spec.auth.secretRef"} {
		if !strings.Contains(out, field) {
			t.Errorf("the refusal does not name %s:\n%s", field, out)
		}
	}

	reg := registry.NewHtpasswd(t)
	createSecret(t, ns, "upstream", registry.Username, registry.Password)
	createConnector(t, ns, "shown", reg.URL, "basicAuth", "upstream")
	ksvc := waitForService(t, ns, "c-shown", nil)
	actAsKnative(t, ksvc)
	waitForCondition(t, ns, "shown", "Ready", "True", "")

	out, err = cluster.Kubectl(t, "get", "conn", "-n", ns)
	if err != nil {
		t.Fatalf("kubectl get conn: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "NAME READY REASON URL AGE" {
		t.Fatalf("kubectl get conn printed:\n%s", out)
	}
	if f := strings.Fields(lines[1]); f[0] != "shown" || f[1] != "True" || f[2] != "http://c-shown.schema.example.com" {
		t.Errorf("row = %q, want shown True <no reason> http://c-shown.schema.example.com", lines[1])
	}
	if _, err := connectors.ConnectorV1alpha1().Connectors(ns).Get(context.Background(), "bad", metav1.GetOptions{}); err == nil {
		t.Error("the refused Connector exists")
	}
}

// The functions' Knative Services in config/ pass Knative's own defaulting
// and validation, as Knative's webhook would apply them, on Knative set up
// as the README asks (the raised request timeout, PersistentVolumeClaims
// enabled); tokenrefresh, which needs neither, on a default Knative too.
func TestFunctionServicesAreValidForKnative(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"600-audit.yaml", "600-tokenrefresh.yaml"} {
		raw, err := os.ReadFile(filepath.Join(root, "config", f))
		if err != nil {
			t.Fatal(err)
		}
		var ksvc servingv1.Service
		if err := yaml.UnmarshalStrict(raw, &ksvc); err != nil {
			t.Fatalf("config/%s: %v", f, err)
		}
		contexts := map[string]context.Context{"Knative as the README sets it up": apis.WithinCreate(rtesting.ServingInstallContext(context.Background()))}
		if f == "600-tokenrefresh.yaml" {
			contexts["default Knative"] = apis.WithinCreate(context.Background())
		}
		for name, ctx := range contexts {
			ksvc := ksvc.DeepCopy()
			ksvc.SetDefaults(ctx)
			if err := ksvc.Validate(ctx); err != nil {
				t.Errorf("Knative (%s) refuses config/%s: %v", name, f, err)
			}
		}
	}
}
