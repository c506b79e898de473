package install

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"path/filepath"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"github.com/oci-connector/oci-connector/test/controlplane"
	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/kube"
	"github.com/oci-connector/oci-connector/test/registry"
)

var brokers = schema.GroupVersionResource{Group: "eventing.knative.dev", Version: "v1", Resource: "brokers"}

// A sink of every kind Knative's resolver takes resolves with the shipped
// RBAC alone: the aggregated addressable-resolver role picks up what each
// project labels (Serving's role from its module, Eventing's Broker from a
// stand-in, and config/'s own for plain Services).
func TestSinksOfEveryKindResolve(t *testing.T) {
	ns := "sinks"
	cluster.EnsureNamespace(t, ns)
	ctx := context.Background()
	installAddressables(t)

	// A plain Service.
	if _, err := cluster.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "events"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A Knative Service, Ready with an address.
	ksvc := &servingv1.Service{ObjectMeta: metav1.ObjectMeta{Name: "audit"}}
	ksvc.Spec.Template.Spec.Containers = []corev1.Container{{Image: image("functions/audit")}}
	ksvc, err := serving.ServingV1().Services(ns).Create(ctx, ksvc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := controlplane.MarkServiceReady(ctx, serving, ksvc); err != nil {
		t.Fatal(err)
	}
	// A Broker, with the address Eventing would give it.
	brokerURL := "http://broker-ingress.knative-eventing.svc.cluster.local/sinks/default"
	dyn := dynamic.NewForConfigOrDie(cluster.Config)
	broker, err := dyn.Resource(brokers).Namespace(ns).Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "metadata": map[string]any{"name": "default"},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	broker.Object["status"] = map[string]any{"address": map[string]any{"url": brokerURL}}
	if _, err := dyn.Resource(brokers).Namespace(ns).UpdateStatus(ctx, broker, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	reg := registry.NewHtpasswd(t)
	for _, tc := range []struct {
		name string
		sink duckv1.Destination
		want string
	}{{
		name: "service",
		sink: duckv1.Destination{Ref: &duckv1.KReference{APIVersion: "v1", Kind: "Service", Name: "events"}},
		want: "http://events.sinks.svc.cluster.local",
	}, {
		name: "ksvc",
		sink: duckv1.Destination{Ref: &duckv1.KReference{APIVersion: "serving.knative.dev/v1", Kind: "Service", Name: "audit"}},
		want: "http://audit.sinks.svc.cluster.local",
	}, {
		name: "broker",
		sink: duckv1.Destination{Ref: &duckv1.KReference{APIVersion: "eventing.knative.dev/v1", Kind: "Broker", Name: "default"}},
		want: brokerURL,
	}, {
		name: "broker-by-group",
		sink: duckv1.Destination{Ref: &duckv1.KReference{Group: "eventing.knative.dev", Kind: "Broker", Name: "default"}},
		want: brokerURL,
	}, {
		name: "ksvc-with-path",
		sink: duckv1.Destination{
			Ref: &duckv1.KReference{APIVersion: "serving.knative.dev/v1", Kind: "Service", Name: "audit"},
			URI: &apis.URL{Path: "/events"},
		},
		want: "http://audit.sinks.svc.cluster.local/events",
	}, {
		name: "uri",
		sink: duckv1.Destination{URI: apis.HTTP("collector.example.com")},
		want: "http://collector.example.com",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			c := connectorFor(ns, tc.name, reg)
			c.Spec.Sink = &tc.sink
			controlplane.ReadyConnector(t, cluster.Config, c, registry.SecretData(), func(string) {})
			waitFor(t, "status.sinkUri of "+tc.name, func(ctx context.Context) (bool, string) {
				got, err := connectors.ConnectorV1alpha1().Connectors(ns).Get(ctx, tc.name, metav1.GetOptions{})
				if err != nil {
					return false, err.Error()
				}
				return got.Status.SinkURI.String() == tc.want, fmt.Sprintf("sinkUri %q", got.Status.SinkURI)
			})
		})
	}
}

// installAddressables applies Knative Serving's addressable-resolver role
// from its module and the Broker stand-in, and waits until
// kube-controller-manager has aggregated them into config/'s role.
func installAddressables(t *testing.T) {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	servingDir, err := kube.ModuleDir(root, "knative.dev/serving")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{
		filepath.Join(servingDir, "config", "core", "200-roles", "addressable-resolvers-clusterrole.yaml"),
		filepath.Join("testdata", "eventing-broker.yaml"),
	} {
		if out, err := cluster.Kubectl(t, "apply", "-f", f); err != nil {
			t.Fatalf("kubectl apply -f %s: %v\n%s", f, err, out)
		}
	}
	waitFor(t, "the aggregated addressable-resolver role", func(ctx context.Context) (bool, string) {
		role, err := cluster.Client.RbacV1().ClusterRoles().Get(ctx, "oci-connector-addressable-resolver", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		var resources []string
		for _, r := range role.Rules {
			resources = append(resources, r.Resources...)
		}
		return slices.Contains(resources, "services") && slices.Contains(resources, "brokers") && slices.Contains(resources, "routes"),
			fmt.Sprintf("resources %v", resources)
	})
	waitFor(t, "the Broker CRD served", func(ctx context.Context) (bool, string) {
		_, err := dynamic.NewForConfigOrDie(cluster.Config).Resource(brokers).List(ctx, metav1.ListOptions{})
		return err == nil, fmt.Sprint(err)
	})
}

// Every field of a Knative Destination survives the API server: the CRD's
// schema prunes none of them.
func TestSinkDestinationRoundTrips(t *testing.T) {
	ns := "roundtrip"
	cluster.EnsureNamespace(t, ns)
	address, caCerts, audience := "ingress", selfSignedPEM(t), "audit.example.com"
	want := &duckv1.Destination{
		Ref: &duckv1.KReference{
			APIVersion: "eventing.knative.dev/v1", Group: "eventing.knative.dev", Kind: "Broker",
			Name: "default", Namespace: ns, Address: &address,
		},
		URI:      &apis.URL{Path: "/events"},
		CACerts:  &caCerts,
		Audience: &audience,
	}
	c := connectorFor(ns, "full-sink", &registry.Registry{URL: "https://registry.example.com"})
	c.Spec.Sink = want.DeepCopy()
	if _, err := connectors.ConnectorV1alpha1().Connectors(ns).Create(context.Background(), c, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating a Connector with a full Destination: %v", err)
	}
	got, err := connectors.ConnectorV1alpha1().Connectors(ns).Get(context.Background(), "full-sink", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(got.Spec.Sink, want) {
		t.Errorf("spec.sink came back as %+v (ref %+v), want %+v (ref %+v)", got.Spec.Sink, got.Spec.Sink.Ref, want, want.Ref)
	}
}

// selfSignedPEM is a CA certificate for a sink's CACerts.
func selfSignedPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sink CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
