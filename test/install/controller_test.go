package install

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	certresources "knative.dev/pkg/webhook/certificates/resources"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/test/controlplane"
	"github.com/oci-connector/oci-connector/test/registry"
)

// The leases sharedmain takes, one per controller of the binary.
var wantLeases = []string{
	"oci-connector-controller.github.com.oci-connector.oci-connector.reconcilers.connector.reconciler.00-of-01",
	"oci-connector-controller.webhookcertificates.00-of-01",
	"oci-connector-controller.defaultingwebhook.00-of-01",
	"oci-connector-controller.validationwebhook.00-of-01",
	"oci-connector-controller.podimageswebhook.00-of-01",
}

func TestControllerTakesItsLeases(t *testing.T) {
	waitFor(t, "the controller's leases", func(ctx context.Context) (bool, string) {
		var missing []string
		for _, name := range wantLeases {
			l, err := cluster.Client.CoordinationV1().Leases(systemNamespace).Get(ctx, name, metav1.GetOptions{})
			if err != nil || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
				missing = append(missing, name)
			}
		}
		return len(missing) == 0, fmt.Sprintf("not held: %v", missing)
	})
}

// webhookCertificate waits for the certificate reconciler to fill the
// Secret config/ ships empty, and returns its CA.
func webhookCertificate(t *testing.T) (caPEM []byte) {
	t.Helper()
	var secret *corev1.Secret
	waitFor(t, "the webhook certificate Secret to be filled", func(ctx context.Context) (bool, string) {
		s, err := cluster.Client.CoreV1().Secrets(systemNamespace).Get(ctx, connectorapi.WebhookSecretName, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		secret = s
		for _, k := range []string{certresources.CACert, certresources.ServerCert, certresources.ServerKey} {
			if len(s.Data[k]) == 0 {
				return false, "missing " + k
			}
		}
		return true, ""
	})
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(secret.Data[certresources.CACert]) {
		t.Fatalf("%s does not parse", certresources.CACert)
	}
	block, _ := pem.Decode(secret.Data[certresources.ServerCert])
	if block == nil {
		t.Fatalf("%s is not PEM", certresources.ServerCert)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", certresources.ServerCert, err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: connectorapi.WebhookServiceName + "." + connectorapi.SystemNamespace + ".svc", Roots: pool}); err != nil {
		t.Fatalf("the serving certificate is not valid for the webhook Service: %v", err)
	}
	return secret.Data[certresources.CACert]
}

func TestControllerFillsTheWebhookCertificate(t *testing.T) {
	webhookCertificate(t)
}

// Each webhook configuration gets the CA, and the Connector validation
// covers writes only: a delete must not need the controller.
func TestControllerKeepsTheWebhookConfigurations(t *testing.T) {
	ca := webhookCertificate(t)
	ctx := context.Background()
	waitFor(t, "caBundle on every webhook configuration", func(ctx context.Context) (bool, string) {
		var stale []string
		m, err := cluster.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		v, err := cluster.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range m.Items {
			for _, w := range c.Webhooks {
				if !bytes.Equal(w.ClientConfig.CABundle, ca) {
					stale = append(stale, w.Name)
				}
			}
		}
		for _, c := range v.Items {
			for _, w := range c.Webhooks {
				if !bytes.Equal(w.ClientConfig.CABundle, ca) {
					stale = append(stale, w.Name)
				}
			}
		}
		return len(m.Items) == 2 && len(v.Items) == 1 && len(stale) == 0,
			fmt.Sprintf("%d mutating, %d validating, without the CA: %v", len(m.Items), len(v.Items), stale)
	})
	v, err := cluster.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "validation.webhook.oci-connector.dev", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, rule := range v.Webhooks[0].Rules {
		for _, op := range rule.Operations {
			if op == admissionregistrationv1.Delete || op == admissionregistrationv1.OperationAll {
				t.Errorf("the validating webhook covers %s of %v", op, rule.Resources)
			}
		}
	}
}

// connectorFor is a Connector of reg in ns, with the seed repository.
func connectorFor(ns, name string, reg *registry.Registry) *v1alpha1.Connector {
	return &v1alpha1.Connector{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.ConnectorSpec{
			ConnectorClassName: v1alpha1.ConnectorClassOCI,
			Address:            reg.URL,
			Auth: v1alpha1.ConnectorAuth{
				Name:      v1alpha1.AuthBasic,
				SecretRef: &v1alpha1.SecretReference{Name: "upstream-" + fmt.Sprint(len(name))},
				Params:    []v1alpha1.Param{{Name: v1alpha1.ParamRepository, Value: registry.SeedRepository}},
			},
		},
	}
}

// Connectors go Ready through the shipped webhooks (called by the API
// server with the controller's certificate) and the controller binary,
// whatever their valid name: a plain one, a dotted one, and the longest.
func TestConnectorsGoReadyWhateverTheirName(t *testing.T) {
	ns := "names"
	cluster.EnsureNamespace(t, ns)
	reg := registry.NewHtpasswd(t)
	longest := strings.Repeat("registry.", 7)[:62] + "z" // 63 characters, dotted
	for _, name := range []string{"harbor", "harbor.example.com", longest} {
		c := controlplane.ReadyConnector(t, cluster.Config, connectorFor(ns, name, reg), registry.SecretData(), func(s string) { t.Log(s) })
		if c.Status.URL == nil {
			t.Errorf("Connector %q is Ready without a URL", name)
		}
		ksvc := proxyService(t, c)
		validateAsKnative(t, ksvc, nil)
	}
}

// A name one character too long for the proxy Service's label is refused
// at admission, saying why.
func TestConnectorNameTooLongIsRefused(t *testing.T) {
	ns := "names"
	cluster.EnsureNamespace(t, ns)
	c := connectorFor(ns, strings.Repeat("registry.", 8)[:63]+"z", &registry.Registry{URL: "https://registry.example.com"})
	_, err := connectors.ConnectorV1alpha1().Connectors(ns).Create(context.Background(), c, metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "metadata.name") || !strings.Contains(err.Error(), "at most 63 characters") {
		t.Fatalf("a 64-character Connector name: %v; want a refusal naming metadata.name and the limit", err)
	}
}

// The API server calls the controller's validating webhook: a bad
// Connector is refused with its field path.
func TestShippedWebhookRefusesABadConnector(t *testing.T) {
	ns := "refused"
	cluster.EnsureNamespace(t, ns)
	bad := &v1alpha1.Connector{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bad"},
		Spec: v1alpha1.ConnectorSpec{
			ConnectorClassName: v1alpha1.ConnectorClassOCI,
			Address:            "https://harbor.example.com",
			Auth:               v1alpha1.ConnectorAuth{Name: v1alpha1.AuthBasic, SecretRef: &v1alpha1.SecretReference{Name: "s"}},
			Proxy:              v1alpha1.ProxySpec{MinScale: ptr.To(int32(5)), MaxScale: ptr.To(int32(1))},
		},
	}
	_, err := connectors.ConnectorV1alpha1().Connectors(ns).Create(context.Background(), bad, metav1.CreateOptions{})
	if err == nil {
		t.Fatal("a Connector with minScale above maxScale was accepted")
	}
	if msg := err.Error(); !strings.Contains(msg, "validation.webhook.oci-connector.dev") || !strings.Contains(msg, "spec.proxy") {
		t.Errorf("the refusal does not come from the shipped webhook with the field path: %v", err)
	}
}

// With the controller down, Connectors and their namespaces can still be
// deleted: no webhook stands in the way of a delete.
func TestDeletesNeedNoController(t *testing.T) {
	ns := "deletes"
	cluster.EnsureNamespace(t, ns)
	reg := registry.NewHtpasswd(t)
	controlplane.ReadyConnector(t, cluster.Config, connectorFor(ns, "doomed", reg), registry.SecretData(), func(string) {})

	controller.stop()
	defer controller.start()
	ctx := context.Background()
	if err := connectors.ConnectorV1alpha1().Connectors(ns).Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Errorf("deleting a Connector with the controller down: %v", err)
	}
	if err := cluster.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Errorf("deleting its namespace with the controller down: %v", err)
	}
}
