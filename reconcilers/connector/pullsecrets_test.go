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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"knative.dev/pkg/apis"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/events"
	ctesting "github.com/oci-connector/oci-connector/pkg/testing"
	rtesting "github.com/oci-connector/oci-connector/reconcilers/testing"
)

// refreshSink records the pullsecrets.refresh data it receives.
type refreshSink struct {
	*httptest.Server
	mu  sync.Mutex
	got []events.RefreshData
}

func newRefreshSink(t *testing.T) *refreshSink {
	s := &refreshSink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var d events.RefreshData
		_ = json.NewDecoder(r.Body).Decode(&d)
		s.mu.Lock()
		s.got = append(s.got, d)
		s.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(s.Close)
	return s
}

// received waits, up to 5 seconds, for want events, then returns all so far.
func (s *refreshSink) received(want int) []events.RefreshData {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		s.mu.Lock()
		n := len(s.got)
		s.mu.Unlock()
		if n >= want {
			break
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]events.RefreshData(nil), s.got...)
}

func TestNewServiceAccountsAndNamespacesAskForRefresh(t *testing.T) {
	sink := newRefreshSink(t)
	sinkURL, _ := apis.ParseURL(sink.URL)
	now := time.Now()
	selected := func(c *v1alpha1.Connector) {
		c.Spec.PullSecrets = &v1alpha1.PullSecretsSpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}},
			ServiceAccounts:   []string{"builder"},
		}
		c.Status.SinkURI = sinkURL
	}
	teamA := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"team": "a"}, CreationTimestamp: metav1.NewTime(now)}}
	teamB := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-b", CreationTimestamp: metav1.NewTime(now)}}
	listers := rtesting.NewListers([]runtime.Object{ctesting.NewConnector("platform", "harbor", "https://h", "s", selected), teamA, teamB})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &Reconciler{
		connectorLister: listers.GetConnectorLister(),
		namespaceLister: listers.GetNamespaceLister(),
		cloudEvents:     newCloudEvents(ctx),
		clock:           time.Now,
	}
	sa := func(ns, name string, created time.Time) *corev1.ServiceAccount {
		return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(created)}}
	}
	r.serviceAccountAdded(ctx, sa("team-a", "builder", now))
	r.serviceAccountAdded(ctx, sa("team-a", "other", now))                   // not named
	r.serviceAccountAdded(ctx, sa("team-b", "builder", now))                 // namespace not selected
	r.serviceAccountAdded(ctx, sa("team-a", "builder", now.Add(-time.Hour))) // an old one, replayed at start-up
	r.namespaceAdded(ctx, teamA)
	r.namespaceAdded(ctx, teamB)

	sink.received(2)
	time.Sleep(200 * time.Millisecond) // room for a stray third
	got := sink.received(2)
	if len(got) != 2 {
		t.Fatalf("refreshes %+v, want one for team-a/builder and one for team-a", got)
	}
	byReason := map[string]events.RefreshData{}
	for _, d := range got {
		byReason[d.Reason] = d
	}
	if d := byReason[events.RefreshServiceAccountAdded]; d.ServiceAccount != "team-a/builder" || d.Connector != "harbor" || d.Namespace != "platform" {
		t.Errorf("ServiceAccountAdded: %+v", d)
	}
	if _, ok := byReason[events.RefreshNamespaceAdded]; !ok {
		t.Errorf("no NamespaceAdded in %+v", got)
	}
}

func TestRenewalIsScheduledForTheEarliestExpiry(t *testing.T) {
	sink := newRefreshSink(t)
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	secret := func(name string, expires time.Time) *corev1.Secret {
		s := ctesting.NewSecret("team-a", name, nil)
		s.Labels = map[string]string{connectorapi.PullSecretConnectorNamespaceLabel: "platform", connectorapi.PullSecretConnectorNameLabel: "harbor"}
		s.Annotations = map[string]string{connectorapi.PullSecretExpiresAnnotation: expires.Format(time.RFC3339)}
		return s
	}
	c := ctesting.NewConnector("platform", "harbor", "https://h", "s", func(c *v1alpha1.Connector) {
		c.Spec.PullSecrets = &v1alpha1.PullSecretsSpec{}
	})
	spec := c.Spec.WithDefaults() // refreshBefore 15m
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	for _, tc := range []struct {
		name      string
		expiries  []time.Duration
		wantAfter time.Duration
		wantEvent bool
	}{
		{"the earliest of two decides", []time.Duration{2 * time.Hour, time.Hour}, 45 * time.Minute, false},
		{"due now: ask for a refresh, look again soon", []time.Duration{10 * time.Minute}, expiringRecheck, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var objs []runtime.Object
			for i, d := range tc.expiries {
				objs = append(objs, secret("s"+string(rune('0'+i)), now.Add(d)))
			}
			listers := rtesting.NewListers(objs)
			var after time.Duration
			r := &Reconciler{
				secretLister: listers.GetSecretLister(),
				cloudEvents:  newCloudEvents(ctx),
				clock:        func() time.Time { return now },
				enqueueAfter: func(_ interface{}, d time.Duration) { after = d },
			}
			before := len(sink.received(0))
			r.scheduleRenewal(ctx, c, spec, sink.URL)
			if after != tc.wantAfter {
				t.Errorf("enqueued after %s, want %s", after, tc.wantAfter)
			}
			if tc.wantEvent {
				got := sink.received(before + 1)
				if len(got) != before+1 || got[len(got)-1].Reason != events.RefreshExpiring {
					t.Errorf("refreshes %+v, want an Expiring one", got)
				}
			}
		})
	}
}
