package connector

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/lru"
	"knative.dev/pkg/apis"
	"knative.dev/pkg/logging"
	logtesting "knative.dev/pkg/logging/testing"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/events"
	ctesting "github.com/oci-connector/oci-connector/pkg/testing"
	rtesting "github.com/oci-connector/oci-connector/reconcilers/testing"
)

// markerReason ends what a test sends: a Sender delivers in order, so once
// the marker arrives everything sent before it has too.
const markerReason = "Marker"

// refreshSink records the pullsecrets.refresh data it receives, alone or
// in batches.
type refreshSink struct {
	*httptest.Server
	mu     sync.Mutex
	got    []events.RefreshData
	marked chan struct{}
}

func newRefreshSink(t *testing.T) *refreshSink {
	s := &refreshSink{marked: make(chan struct{}, 16)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received, ok := events.ReceiveAll(w, r)
		if !ok {
			return
		}
		for _, e := range received {
			var d events.RefreshData
			_ = json.Unmarshal(e.Data(), &d)
			if d.Reason == markerReason {
				s.marked <- struct{}{}
			} else {
				s.mu.Lock()
				s.got = append(s.got, d)
				s.mu.Unlock()
			}
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(s.Close)
	return s
}

// receivedUpTo sends a marker through r and returns, once it arrived, the
// events received before it and forgets them.
func (s *refreshSink) receivedUpTo(t *testing.T, r *Reconciler) []events.RefreshData {
	t.Helper()
	r.emit(context.Background(), "marker", "marker", events.PullSecretsRefresh, events.RefreshData{Reason: markerReason}, s.URL)
	select {
	case <-s.marked:
	case <-time.After(10 * time.Second):
		t.Fatal("the marker event did not arrive within 10s")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	got := s.got
	s.got = nil
	return got
}

// testContext carries a test logger and ends with the test, stopping the
// senders made with it.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(logging.WithLogger(context.Background(), logtesting.TestLogger(t)))
	t.Cleanup(cancel)
	return ctx
}

func testReconciler(ctx context.Context, listers rtesting.Listers, now time.Time, tokenrefresh string) *Reconciler {
	settings := testSettings
	settings.TokenRefreshURL = tokenrefresh
	return &Reconciler{
		connectorLister: listers.GetConnectorLister(),
		namespaceLister: listers.GetNamespaceLister(),
		secretLister:    listers.GetSecretLister(),
		senders:         events.NewSenders(ctx, events.SenderOptions{Logger: logging.FromContext(ctx)}),
		refreshed:       lru.New(refreshedCacheSize),
		clock:           clocktesting.NewFakePassiveClock(now),
		settings:        settings,
	}
}

func TestNewServiceAccountsAndNamespacesAskForRefresh(t *testing.T) {
	sink, tokenrefresh := newRefreshSink(t), newRefreshSink(t)
	sinkURL, _ := apis.ParseURL(sink.URL)
	now := time.Now()
	selected := func(c *v1alpha1.Connector) {
		c.Spec.PullSecrets = &v1alpha1.PullSecretsSpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}},
			ServiceAccounts:   []string{"builder"},
		}
		c.Status.SinkURI = sinkURL
	}
	namespace := func(name string, created time.Time, labels map[string]string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, CreationTimestamp: metav1.NewTime(created)}}
	}
	teamA := namespace("team-a", now, map[string]string{"team": "a"})
	teamB := namespace("team-b", now, nil)
	listers := rtesting.NewListers([]runtime.Object{ctesting.NewConnector("platform", "harbor", "https://h", "s", selected), teamA, teamB})
	ctx := testContext(t)
	r := testReconciler(ctx, listers, now, tokenrefresh.URL)
	sa := func(ns, name string, created time.Time) *corev1.ServiceAccount {
		return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(created)}}
	}
	r.serviceAccountAdded(ctx, sa("team-a", "builder", now))
	r.serviceAccountAdded(ctx, sa("team-a", "other", now))                   // not named
	r.serviceAccountAdded(ctx, sa("team-b", "builder", now))                 // namespace not selected
	r.serviceAccountAdded(ctx, sa("team-a", "builder", now.Add(-time.Hour))) // an old one, replayed at start-up
	r.namespaceAdded(ctx, teamA)
	r.namespaceAdded(ctx, teamB)
	r.namespaceAdded(ctx, namespace("team-c", now.Add(-time.Hour), map[string]string{"team": "a"})) // old
	// team-b joins team a, and then an unrelated label changes.
	r.namespaceUpdated(ctx, teamB, namespace("team-b", now, map[string]string{"team": "a"}))
	r.namespaceUpdated(ctx, teamA, namespace("team-a", now, map[string]string{"team": "a", "cost": "1"}))

	for _, to := range []*refreshSink{tokenrefresh, sink} {
		got := to.receivedUpTo(t, r)
		var reasons []string
		for _, d := range got {
			reasons = append(reasons, d.Reason)
			if d.Connector != "harbor" || d.Namespace != "platform" {
				t.Errorf("a refresh for the wrong Connector: %+v", d)
			}
			if d.Reason == events.RefreshServiceAccountAdded && d.ServiceAccount != "team-a/builder" {
				t.Errorf("ServiceAccountAdded names %q, want team-a/builder", d.ServiceAccount)
			}
		}
		want := []string{events.RefreshServiceAccountAdded, events.RefreshNamespaceAdded, events.RefreshNamespaceChanged}
		if len(reasons) != len(want) || reasons[0] != want[0] || reasons[1] != want[1] || reasons[2] != want[2] {
			t.Errorf("refreshes %v, want %v", reasons, want)
		}
	}
}

func TestRefreshIsAskedWhenDueAndRequeuedForTheEarliestExpiry(t *testing.T) {
	tokenrefresh := newRefreshSink(t)
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	secret := func(name string, expires time.Time) *corev1.Secret {
		s := ctesting.NewSecret("team-a", name, nil)
		s.Labels = map[string]string{connectorapi.PullSecretConnectorNamespaceLabel: "platform", connectorapi.PullSecretConnectorNameLabel: "harbor"}
		s.Annotations = map[string]string{connectorapi.PullSecretExpiresAnnotation: expires.Format(time.RFC3339)}
		return s
	}
	c := ctesting.NewConnector("platform", "harbor", "https://h", "s", func(c *v1alpha1.Connector) {
		c.Spec.PullSecrets = &v1alpha1.PullSecretsSpec{}
		c.Status.ObservedGeneration = c.Generation
	})
	spec := c.Spec.WithDefaults() // refreshBefore 15m
	ctx := testContext(t)

	type call struct {
		at        time.Duration // after now
		change    func(*v1alpha1.Connector)
		wantAfter time.Duration
		want      []string
	}
	for _, tc := range []struct {
		name     string
		expiries []time.Duration
		calls    []call
	}{
		{"the earliest of two decides; a resync once per interval", []time.Duration{2 * time.Hour, time.Hour}, []call{
			{at: 0, wantAfter: 45 * time.Minute, want: []string{events.RefreshResync}},
			{at: time.Minute, wantAfter: 44 * time.Minute},
			{at: testSettings.RecheckInterval, wantAfter: 45*time.Minute - testSettings.RecheckInterval, want: []string{events.RefreshResync}},
		}},
		{"due now: ask for a refresh, look again soon", []time.Duration{10 * time.Minute}, []call{
			{at: 0, wantAfter: expiringRecheck, want: []string{events.RefreshExpiring}},
			{at: expiringRecheck, wantAfter: expiringRecheck, want: []string{events.RefreshExpiring}},
		}},
		{"a new generation", []time.Duration{time.Hour}, []call{
			{at: 0, change: func(c *v1alpha1.Connector) { c.Generation++ }, wantAfter: 45 * time.Minute, want: []string{events.RefreshConnectorChanged}},
		}},
		{"the proxy becomes Ready: its pull secrets can be written now", nil, []call{
			{at: 0, want: []string{events.RefreshResync}},
			{at: time.Second, change: ctesting.WithReady("c-harbor.platform.example.com"), want: []string{events.RefreshProxyChanged}},
			{at: 2 * time.Second, change: ctesting.WithReady("c-harbor.platform.example.com")},
		}},
		{"no pull secrets yet: no renewal to wait for", nil, []call{
			{at: 0, wantAfter: 0, want: []string{events.RefreshResync}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var objs []runtime.Object
			for i, d := range tc.expiries {
				objs = append(objs, secret("s"+string(rune('0'+i)), now.Add(d)))
			}
			r := testReconciler(ctx, rtesting.NewListers(objs), now, tokenrefresh.URL)
			for i, call := range tc.calls {
				r.clock.(*clocktesting.FakePassiveClock).SetTime(now.Add(call.at))
				c := c.DeepCopy()
				if call.change != nil {
					call.change(c)
				}
				if after := r.refreshPullSecrets(ctx, c, spec, "", proxyState(c)); after != call.wantAfter {
					t.Errorf("call %d: requeue after %s, want %s", i, after, call.wantAfter)
				}
				var reasons []string
				for _, d := range tokenrefresh.receivedUpTo(t, r) {
					reasons = append(reasons, d.Reason)
				}
				if len(reasons) != len(call.want) || (len(reasons) == 1 && reasons[0] != call.want[0]) {
					t.Errorf("call %d: refreshes %v, want %v", i, reasons, call.want)
				}
			}
		})
	}
}

// A Connector deleted while the controller was down leaves pull secrets
// behind; the controller sees them at start-up and asks for their removal.
func TestPullSecretsOfAMissingConnectorAreReported(t *testing.T) {
	tokenrefresh := newRefreshSink(t)
	ctx := testContext(t)
	present := ctesting.NewConnector("platform", "harbor", "https://h", "s")
	r := testReconciler(ctx, rtesting.NewListers([]runtime.Object{present}), time.Now(), tokenrefresh.URL)
	pullSecret := func(connector string) *corev1.Secret {
		s := ctesting.NewSecret("team-a", "ps-"+connector, nil)
		s.Labels = map[string]string{connectorapi.PullSecretConnectorNamespaceLabel: "platform", connectorapi.PullSecretConnectorNameLabel: connector}
		return s
	}
	var enqueued []string
	enqueue := func(ns, name string) { enqueued = append(enqueued, ns+"/"+name) }
	r.pullSecretSeen(ctx, pullSecret("harbor"), enqueue)
	r.pullSecretSeen(ctx, pullSecret("gone"), enqueue)
	r.pullSecretSeen(ctx, ctesting.NewSecret("team-a", "unrelated", nil), enqueue)

	if len(enqueued) != 1 || enqueued[0] != "platform/harbor" {
		t.Errorf("enqueued %v, want only platform/harbor", enqueued)
	}
	got := tokenrefresh.receivedUpTo(t, r)
	if len(got) != 1 || got[0].Connector != "gone" || got[0].Reason != events.RefreshConnectorDeleted {
		t.Errorf("refreshes %+v, want one ConnectorDeleted for platform/gone", got)
	}
}

// A binding that grants or revokes pull on a Connector changes who gets its
// pull secrets: a RoleBinding in the Connector's namespace, or any
// ClusterRoleBinding, asks for a refresh.
func TestBindingsAskForRefresh(t *testing.T) {
	tokenrefresh := newRefreshSink(t)
	ctx := testContext(t)
	now := time.Now()
	withPullSecrets := func(c *v1alpha1.Connector) { c.Spec.PullSecrets = &v1alpha1.PullSecretsSpec{} }
	listers := rtesting.NewListers([]runtime.Object{
		ctesting.NewConnector("platform", "harbor", "https://h", "s", withPullSecrets),
		ctesting.NewConnector("other", "quay", "https://q", "s"), // no pull secrets
	})
	r := testReconciler(ctx, listers, now, tokenrefresh.URL)
	h := r.bindingEvents(ctx)
	binding := func(ns string, created time.Time, subject string) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pull", CreationTimestamp: metav1.NewTime(created)},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "oci-connector-puller"},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "team-a", Name: subject}},
		}
	}
	h.OnAdd(binding("platform", now, "default"), false)
	h.OnAdd(binding("other", now, "default"), false)                   // no Connector with pull secrets there
	h.OnAdd(binding("platform", now.Add(-time.Hour), "default"), true) // replayed at start-up
	relabelled := binding("platform", now, "default")
	relabelled.Labels = map[string]string{"x": "y"}
	h.OnUpdate(binding("platform", now, "default"), relabelled)                          // whom it grants is the same
	h.OnUpdate(binding("platform", now, "default"), binding("platform", now, "builder")) // another subject
	h.OnDelete(binding("platform", now, "builder"))
	h.OnAdd(&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "pull-all", CreationTimestamp: metav1.NewTime(now)}}, false)

	got := tokenrefresh.receivedUpTo(t, r)
	if len(got) != 4 {
		t.Fatalf("refreshes %+v, want 4 (add, subject change, delete, ClusterRoleBinding)", got)
	}
	for _, d := range got {
		if d.Namespace != "platform" || d.Connector != "harbor" || d.Reason != events.RefreshRBACChanged {
			t.Errorf("refresh %+v, want RBACChanged for platform/harbor", d)
		}
	}
}

// tokenrefresh reads the stored Connector: a reconcile that has just made
// it Ready, but not stored that yet, must not send the event that would
// find it not Ready; the reconcile after the status update does.
func TestProxyChangedFollowsTheStoredStatus(t *testing.T) {
	tokenrefresh := newRefreshSink(t)
	ctx := testContext(t)
	now := time.Now()
	withPullSecrets := func(c *v1alpha1.Connector) {
		c.Spec.PullSecrets = &v1alpha1.PullSecretsSpec{}
		c.Status.ObservedGeneration = c.Generation
	}
	stored := ctesting.NewConnector("platform", "harbor", "https://h", "s", withPullSecrets)
	ready := ctesting.NewConnector("platform", "harbor", "https://h", "s", withPullSecrets, ctesting.WithReady("c-harbor.platform.example.com"))
	refreshed := lru.New(refreshedCacheSize)
	reconcile := func(inLister, inProgress *v1alpha1.Connector) []events.RefreshData {
		r := testReconciler(ctx, rtesting.NewListers([]runtime.Object{inLister}), now, tokenrefresh.URL)
		r.refreshed = refreshed
		r.refreshPullSecrets(ctx, inProgress.DeepCopy(), inProgress.Spec.WithDefaults(), "", proxyState(inLister))
		return tokenrefresh.receivedUpTo(t, r)
	}
	if got := reconcile(stored, stored); len(got) != 1 || got[0].Reason != events.RefreshResync {
		t.Fatalf("first look: %+v, want one Resync", got)
	}
	if got := reconcile(stored, ready); len(got) != 0 {
		t.Errorf("Ready in the reconcile but not yet stored: %+v, want nothing", got)
	}
	if got := reconcile(ready, ready); len(got) != 1 || got[0].Reason != events.RefreshProxyChanged {
		t.Errorf("Ready and stored: %+v, want one ProxyChanged", got)
	}
}
