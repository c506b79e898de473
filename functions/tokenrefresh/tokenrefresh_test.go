package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/oci-connector/oci-connector/pkg/events"
	ctesting "github.com/oci-connector/oci-connector/pkg/testing"
)

func TestMakePullSecret(t *testing.T) {
	c := ctesting.NewConnector("platform", "harbor", "https://harbor.example.com", "s", ctesting.WithReady("c-harbor.platform.example.com"))
	expires := time.Date(2026, 11, 22, 11, 0, 0, 0, time.UTC)
	s, err := makePullSecret(c, "team-a", "default", "TOKEN", expires)
	if err != nil {
		t.Fatal(err)
	}
	if s.Type != corev1.SecretTypeDockerConfigJson || s.Namespace != "team-a" || s.Name != secretName(c, "default") {
		t.Errorf("secret %s/%s of type %s", s.Namespace, s.Name, s.Type)
	}
	if s.Labels[labelConnectorNamespace] != "platform" || s.Labels[labelConnectorName] != "harbor" || s.Labels[labelServiceAccount] != "default" {
		t.Errorf("labels %v", s.Labels)
	}
	if !expiresAt(s).Equal(expires) {
		t.Errorf("expires %v, want %v", expiresAt(s), expires)
	}
	var config struct {
		Auths map[string]struct{ Username, Password, Auth string }
	}
	if err := json.Unmarshal(s.Data[corev1.DockerConfigJsonKey], &config); err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"c-harbor.platform.example.com", "c-harbor.platform.svc.cluster.local"} {
		a := config.Auths[host]
		if a.Username != "u" || a.Password != "TOKEN" || a.Auth != base64.StdEncoding.EncodeToString([]byte("u:TOKEN")) {
			t.Errorf("login for %s: %+v", host, a)
		}
	}
	if len(config.Auths) != 2 {
		t.Errorf("logins for %d hosts, want 2: %v", len(config.Auths), config.Auths)
	}

	// A Connector without a proxy address has nothing to log in to.
	if _, err := makePullSecret(ctesting.NewConnector("platform", "new", "https://h", "s"), "team-a", "default", "T", expires); err == nil {
		t.Error("a pull secret for a Connector without a proxy URL")
	}
}

func TestSecretNamesAreStableAndDistinct(t *testing.T) {
	a := ctesting.NewConnector("platform", "harbor", "https://h", "s")
	b := ctesting.NewConnector("other", "harbor", "https://h", "s")
	if again := ctesting.NewConnector("platform", "harbor", "https://h", "s"); secretName(a, "default") != secretName(again, "default") {
		t.Error("the name differs for equal Connectors")
	}
	names := map[string]bool{secretName(a, "default"): true, secretName(a, "builder"): true, secretName(b, "default"): true}
	if len(names) != 3 {
		t.Errorf("names collide: %v", names)
	}
	for n := range names {
		if len(n) > 63 || !strings.HasPrefix(n, "oci-connector-pull-") {
			t.Errorf("name %q", n)
		}
	}
}

func TestReceiveQueuesTheNamedConnector(t *testing.T) {
	w := newWorker(&refresher{}, zap.NewNop().Sugar())
	defer w.queue.ShutDown()
	srv := httptest.NewServer(w.routes())
	defer srv.Close()
	send := func(typ string, data any) int {
		e, err := events.New(typ, "platform", "harbor", "", data)
		if err != nil {
			t.Fatal(err)
		}
		client, _ := cloudevents.NewClientHTTP()
		res := client.Send(cloudevents.ContextWithTarget(t.Context(), srv.URL), e)
		if cloudevents.IsACK(res) {
			return http.StatusAccepted
		}
		return http.StatusBadRequest
	}
	if code := send(events.PullSecretsRefresh, events.RefreshData{Connector: "harbor", Namespace: "platform", Reason: events.RefreshExpiring}); code != http.StatusAccepted {
		t.Fatalf("refresh: %d", code)
	}
	if code := send(events.CredentialsRotated, events.CredentialsData{Connector: "harbor", Namespace: "platform", Secret: "s"}); code != http.StatusAccepted {
		t.Fatalf("rotated: %d", code)
	}
	if code := send(events.ImagePulled, events.ImageData{Connector: "x", Namespace: "y"}); code != http.StatusAccepted {
		t.Fatalf("another type is accepted and ignored, got %d", code)
	}
	if code := send(events.PullSecretsRefresh, map[string]string{"reason": "no connector"}); code != http.StatusBadRequest {
		t.Fatalf("an event naming no Connector: %d, want 400", code)
	}
	// Both events named one Connector: the queue holds it once.
	if n := w.queue.Len(); n != 1 {
		t.Fatalf("queue length %d, want 1", n)
	}
	key, _ := w.queue.Get()
	if key != (types.NamespacedName{Namespace: "platform", Name: "harbor"}) {
		t.Errorf("queued %v", key)
	}
}
