package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"go.uber.org/zap"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	kubefake "k8s.io/client-go/kubernetes/fake"
	ktesting "k8s.io/client-go/testing"
	"k8s.io/utils/clock"

	"github.com/oci-connector/oci-connector/pkg/access"
	connectorfake "github.com/oci-connector/oci-connector/pkg/client/clientset/versioned/fake"
	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/pkg/identity"
	"github.com/oci-connector/oci-connector/pkg/identity/identitytest"
)

// The handler answers when the refresh is done: 200, or 500 so that the
// sender retries; events it does not act on are accepted, malformed ones
// refused.
func TestReceiveRefreshesTheNamedConnector(t *testing.T) {
	kube := kubefake.NewClientset()
	connectors := connectorfake.NewSimpleClientset()
	h := newTestHandler(kube, connectors)
	srv := httptest.NewServer(h.routes())
	defer srv.Close()
	send := func(typ string, data any) int {
		return sendAs(t, srv.URL, controllerToken, typ, data)
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

// testSigner signs the tests' tokens; the handler verifies with its keys.
var testSigner = identitytest.NewSigner()

// The callers the fake TokenReview knows: the controller, and a tenant's
// ServiceAccount with a token for tokenrefresh's audience.
var (
	controllerToken = testSigner.Token(events.TokenRefreshAudience, "controller", time.Now().Add(time.Hour))
	tenantToken     = testSigner.Token(events.TokenRefreshAudience, "tenant", time.Now().Add(time.Hour))
)

// newTestHandler serves refreshes for the controller oci-connector/oci-connector-controller.
func newTestHandler(kube *kubefake.Clientset, connectors *connectorfake.Clientset) *handler {
	kube.PrependReactor("create", "tokenreviews", func(a ktesting.Action) (bool, runtime.Object, error) {
		tr := a.(ktesting.CreateAction).GetObject().(*authenticationv1.TokenReview).DeepCopy()
		users := map[string]string{controllerToken: "system:serviceaccount:oci-connector:oci-connector-controller", tenantToken: "system:serviceaccount:team-a:default"}
		if u, ok := users[tr.Spec.Token]; ok {
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, Audiences: tr.Spec.Audiences, User: authenticationv1.UserInfo{Username: u}}
		}
		return true, tr, nil
	})
	return &handler{
		callers: &callerAuth{
			authn:      identity.NewAuthenticator(identity.NewVerifier(testSigner.Keys()), kube.AuthenticationV1().TokenReviews()),
			controller: "system:serviceaccount:oci-connector:oci-connector-controller",
			logger:     zap.NewNop().Sugar(),
		},
		refreshes: newCoalescer(),
		refresher: &refresher{kube: kube, connectors: connectors, reviewer: access.NewUncachedReviewer(kube.AuthorizationV1().SubjectAccessReviews()), logger: zap.NewNop().Sugar(), clock: clock.RealClock{}},
		senders:   events.NewSenders(context.Background(), events.SenderOptions{}),
		logger:    zap.NewNop().Sugar(),
	}
}

// sendAs delivers one event to target with token as its bearer credential.
func sendAs(t *testing.T, target, token, typ string, data any) int {
	t.Helper()
	e, err := events.New(typ, "platform", "harbor", "", data)
	if err != nil {
		t.Fatal(err)
	}
	client, _ := cloudevents.NewClientHTTP()
	ctx := cloudevents.ContextWithTarget(t.Context(), target)
	if token != "" {
		ctx = cehttp.WithCustomHeader(ctx, http.Header{"Authorization": {"Bearer " + token}})
	}
	res := client.Send(ctx, e)
	var httpResult *cehttp.Result
	if !cloudevents.ResultAs(res, &httpResult) {
		t.Fatalf("no HTTP result: %v", res)
	}
	return httpResult.StatusCode
}

// Only the controller may ask for refreshes; nobody else's request costs a
// read of the API, and an unauthenticated body is never read.
func TestOnlyTheControllerMayAskForRefreshes(t *testing.T) {
	kube := kubefake.NewClientset()
	connectors := connectorfake.NewSimpleClientset()
	srv := httptest.NewServer(newTestHandler(kube, connectors).routes())
	defer srv.Close()
	refresh := events.RefreshData{Connector: "harbor", Namespace: "platform", Reason: events.RefreshExpiring}
	forged := identitytest.NewSigner().Token(events.TokenRefreshAudience, "controller", time.Now().Add(time.Hour))
	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"a token the cluster did not sign", forged, http.StatusUnauthorized},
		{"the controller's token for another audience", testSigner.Token(events.AuditAudience, "controller", time.Now().Add(time.Hour)), http.StatusUnauthorized},
		{"a tenant's ServiceAccount", tenantToken, http.StatusForbidden},
	} {
		if got := sendAs(t, srv.URL, tc.token, events.PullSecretsRefresh, refresh); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	if n := len(connectors.Actions()); n != 0 {
		t.Errorf("refused requests made %d Connector reads", n)
	}
	resp, err := http.Post(srv.URL, "application/cloudevents-batch+json", strings.NewReader("[not json"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("an unauthenticated, malformed batch: %d, want 401", resp.StatusCode)
	}
}

// A request may name at most one batch's worth of Connectors.
func TestRequestsAreBoundedInConnectors(t *testing.T) {
	kube := kubefake.NewClientset()
	connectors := connectorfake.NewSimpleClientset()
	srv := httptest.NewServer(newTestHandler(kube, connectors).routes())
	defer srv.Close()
	var batch []cloudevents.Event
	for i := range maxConnectorsPerRequest + 1 {
		e, err := events.New(events.PullSecretsRefresh, "platform", fmt.Sprintf("c%d", i), "", events.RefreshData{Connector: fmt.Sprintf("c%d", i), Namespace: "platform"})
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, e)
	}
	req, err := cehttp.NewHTTPRequestFromEvents(t.Context(), srv.URL, batch)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+controllerToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || len(connectors.Actions()) != 0 {
		t.Errorf("%d Connectors in one request: %d after %d reads, want 413 and none", len(batch), resp.StatusCode, len(connectors.Actions()))
	}
}

// Repeats of one Connector while its refresh runs share the next refresh:
// however many come, at most two refreshes run, and each caller's starts
// after it asked.
func TestRepeatsOfOneConnectorAreCollapsed(t *testing.T) {
	c := newCoalescer()
	key := types.NamespacedName{Namespace: "platform", Name: "harbor"}
	release := make(chan struct{})
	var runs atomic.Int32
	refresh := func(types.NamespacedName) (result, error) {
		if runs.Add(1) == 1 {
			<-release // the first run holds on while the repeats arrive
		}
		return result{}, nil
	}
	first := make(chan error, 1)
	go func() { _, err := c.do(t.Context(), key, refresh); first <- err }()
	waitUntil(t, func() bool { return runs.Load() == 1 })
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.do(t.Context(), key, refresh); err != nil {
				t.Error(err)
			}
		}()
	}
	// All 50 wait on the one next run; release the first.
	waitUntil(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.slots[key].next != nil && c.slots[key].next.waiters == 50
	})
	close(release)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if n := runs.Load(); n != 2 {
		t.Errorf("%d refreshes for 51 requests, want 2 (the running one and one shared by the repeats)", n)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}
