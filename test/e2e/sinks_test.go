package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/test/registry"
)

// tenantSink is a listener a tenant points spec.sink at: it records every
// Authorization header and event type it is sent.
type tenantSink struct {
	*httptest.Server
	mu    sync.Mutex
	auth  []string
	types []string
}

func newTenantSink(t *testing.T) *tenantSink {
	s := &tenantSink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		s.mu.Unlock()
		received, ok := events.ReceiveAll(w, r)
		if !ok {
			return
		}
		s.mu.Lock()
		for _, e := range received {
			s.types = append(s.types, e.Type())
		}
		s.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *tenantSink) received(typ string) (bool, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, got := range s.types {
		if got == typ {
			return true, append([]string(nil), s.auth...)
		}
	}
	return false, nil
}

// A tenant's sink gets the controller's events about its Connector, and
// never the install's credentials: those go to the audit function's own
// address alone.
func TestTenantSinksGetNoInstallCredential(t *testing.T) {
	ns := "tenant-sink"
	sink := newTenantSink(t)
	uri, err := apis.ParseURL(sink.URL)
	if err != nil {
		t.Fatal(err)
	}
	connectorWithSink(t, ns, registry.NewHtpasswd(t), &duckv1.Destination{URI: uri})
	var auth []string
	waitFor(t, "a pullsecrets.refresh event at the tenant's sink", func(context.Context) (bool, string) {
		var ok bool
		ok, auth = sink.received(events.PullSecretsRefresh)
		return ok, "not yet"
	})
	for _, a := range auth {
		if a != "" {
			t.Errorf("the tenant's sink was sent Authorization %q", a[:min(len(a), 12)]+"...")
		}
	}
	// The proxy is told the audit function's address, to which alone it
	// presents its own token.
	ksvc := waitForService(t, ns, "c-harbor", nil)
	if env := envOf(ksvc.Spec.Template.Spec.Containers[0].Env, "AUDIT_URL"); env != installAudit.URL {
		t.Errorf("the proxy's AUDIT_URL = %q, want the install's %q", env, installAudit.URL)
	}
}

// A namespaced Connector's sink ref may name only its own namespace: the
// controller reads no other namespace's Addressables for it, and says why.
func TestSinkRefInAnotherNamespaceIsRefused(t *testing.T) {
	ns := "sink-elsewhere"
	connectorWithSink(t, ns, registry.NewHtpasswd(t), &duckv1.Destination{Ref: &duckv1.KReference{
		APIVersion: "serving.knative.dev/v1", Kind: "Service", Name: "audit", Namespace: connectorapi.SystemNamespace,
	}})
	waitFor(t, "a SinkNotResolved event naming the namespace rule", func(ctx context.Context) (bool, string) {
		list, err := cluster.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range list.Items {
			if e.Type == corev1.EventTypeWarning && e.Reason == "SinkNotResolved" && strings.Contains(e.Message, "may name only namespace") {
				return true, ""
			}
		}
		return false, "no such event"
	})
	got, err := connectors.ConnectorV1alpha1().Connectors(ns).Get(context.Background(), "harbor", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.SinkURI != nil {
		t.Errorf("status.sinkUri = %v, want none", got.Status.SinkURI)
	}
}

// connectorWithSink creates ns/harbor in front of reg, scoped to the seed
// repository, with sink and pull secrets for its own namespace, and acts
// as Knative for its proxy Service.
func connectorWithSink(t *testing.T, ns string, reg *registry.Registry, sink *duckv1.Destination) *v1alpha1.Connector {
	t.Helper()
	cluster.EnsureNamespace(t, ns)
	createSecret(t, ns, "upstream", registry.Username, registry.Password)
	c := &v1alpha1.Connector{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "harbor"},
		Spec: v1alpha1.ConnectorSpec{
			ConnectorClassName: v1alpha1.ConnectorClassOCI,
			Address:            reg.URL,
			Auth: v1alpha1.ConnectorAuth{
				Name: v1alpha1.AuthBasic, SecretRef: &v1alpha1.SecretReference{Name: "upstream"},
				Params: []v1alpha1.Param{{Name: v1alpha1.ParamRepository, Value: registry.SeedRepository}},
			},
			Sink:        sink,
			PullSecrets: &v1alpha1.PullSecretsSpec{},
		},
	}
	created, err := connectors.ConnectorV1alpha1().Connectors(ns).Create(context.Background(), c, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	actAsKnative(t, waitForService(t, ns, "c-harbor", nil))
	return created
}

func envOf(env []corev1.EnvVar, name string) string {
	for _, e := range env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}
