package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	ktesting "k8s.io/client-go/testing"
	"k8s.io/utils/clock"

	"github.com/oci-connector/oci-connector/pkg/access"
	connectorfake "github.com/oci-connector/oci-connector/pkg/client/clientset/versioned/fake"
	"github.com/oci-connector/oci-connector/pkg/clientconfig"

	"github.com/oci-connector/oci-connector/pkg/events"
	ctesting "github.com/oci-connector/oci-connector/pkg/testing"
)

func TestMakePullSecret(t *testing.T) {
	c := ctesting.NewConnector("platform", "harbor", "https://harbor.example.com", "s", ctesting.WithReady("c-harbor.platform.example.com"))
	expires := time.Date(2026, 11, 22, 11, 0, 0, 0, time.UTC)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "default", UID: "sa-uid"}}
	s, err := makePullSecret(c, sa, "TOKEN", expires)
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
		if a.Username != clientconfig.Username || a.Password != "TOKEN" || a.Auth != base64.StdEncoding.EncodeToString([]byte(clientconfig.Username+":TOKEN")) {
			t.Errorf("login for %s: %+v", host, a)
		}
	}
	if len(config.Auths) != 2 {
		t.Errorf("logins for %d hosts, want 2: %v", len(config.Auths), config.Auths)
	}

	// A Connector without a proxy address has nothing to log in to.
	if _, err := makePullSecret(ctesting.NewConnector("platform", "new", "https://h", "s"), sa, "T", expires); err == nil {
		t.Error("a pull secret for a Connector without a proxy URL")
	}
}

// Only a Secret tokenrefresh wrote counts as its own: the labels alone, a
// wrong name, a missing or forged owner, or another ServiceAccount's mark
// do not.
func TestOwnershipCannotBeFakedWithLabels(t *testing.T) {
	c := ctesting.NewConnector("platform", "harbor", "https://harbor.example.com", "s", ctesting.WithReady("c-harbor.platform.example.com"))
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "default", UID: "sa-uid"}}
	written, err := makePullSecret(c, sa, "TOKEN", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !ownedPullSecret(c, written) {
		t.Fatal("a pull secret tokenrefresh wrote is not recognised as its own")
	}
	for name, change := range map[string]func(*corev1.Secret){
		"labels on another Secret": func(s *corev1.Secret) {
			s.Name, s.OwnerReferences, s.Annotations = "db-password", nil, nil
		},
		"our name and labels, no mark": func(s *corev1.Secret) { delete(s.Annotations, annotationOwner) },
		"no owner reference":           func(s *corev1.Secret) { s.OwnerReferences = nil },
		"another ServiceAccount's UID": func(s *corev1.Secret) { s.OwnerReferences[0].UID = "other-uid" },
		"another Connector's labels": func(s *corev1.Secret) {
			s.Labels[labelConnectorName] = "quay"
		},
	} {
		s := written.DeepCopy()
		change(s)
		owner := c
		if s.Labels[labelConnectorName] == "quay" {
			owner = ctesting.NewConnector("platform", "quay", "https://quay.io", "s")
		}
		if ownedPullSecret(owner, s) {
			t.Errorf("%s: counted as tokenrefresh's own", name)
		}
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

// The handler answers when the refresh is done: 200, or 500 so that the
// sender retries; events it does not act on are accepted, malformed ones
// refused.
func TestReceiveRefreshesTheNamedConnector(t *testing.T) {
	kube := kubefake.NewClientset()
	connectors := connectorfake.NewSimpleClientset()
	h := &handler{
		refresher: &refresher{kube: kube, connectors: connectors, reviewer: access.NewUncachedReviewer(kube.AuthorizationV1().SubjectAccessReviews()), logger: zap.NewNop().Sugar(), clock: clock.RealClock{}},
		senders:   events.NewSenders(t.Context(), events.SenderOptions{}),
		logger:    zap.NewNop().Sugar(),
	}
	srv := httptest.NewServer(h.routes())
	defer srv.Close()
	send := func(typ string, data any) int {
		e, err := events.New(typ, "platform", "harbor", "", data)
		if err != nil {
			t.Fatal(err)
		}
		client, _ := cloudevents.NewClientHTTP()
		res := client.Send(cloudevents.ContextWithTarget(t.Context(), srv.URL), e)
		var httpResult *cehttp.Result
		if !cloudevents.ResultAs(res, &httpResult) {
			t.Fatalf("no HTTP result: %v", res)
		}
		return httpResult.StatusCode
	}
	refresh := events.RefreshData{Connector: "harbor", Namespace: "platform", Reason: events.RefreshExpiring}
	if code := send(events.PullSecretsRefresh, refresh); code != http.StatusOK {
		t.Errorf("refresh of a Connector that is gone: %d, want 200", code)
	}
	if code := send(events.CredentialsRotated, events.CredentialsData{Connector: "harbor", Namespace: "platform", Secret: "s"}); code != http.StatusAccepted {
		t.Errorf("credentials.rotated is not a trigger any more, got %d, want 202", code)
	}
	if code := send(events.PullSecretsRefresh, map[string]string{"reason": "no connector"}); code != http.StatusBadRequest {
		t.Errorf("an event naming no Connector: %d, want 400", code)
	}
	var gets int
	for _, a := range connectors.Actions() {
		if a.GetVerb() == "get" {
			gets++
		}
	}
	if gets != 1 {
		t.Errorf("the Connector was read %d times, want once (for the one refresh)", gets)
	}

	connectors.PrependReactor("get", "connectors", func(ktesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("the API server is down")
	})
	if code := send(events.PullSecretsRefresh, refresh); code != http.StatusInternalServerError {
		t.Errorf("a refresh that failed: %d, want 500 so the sender retries", code)
	}
}
