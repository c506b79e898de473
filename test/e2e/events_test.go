package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/pkg/identity/identitytest"
	"github.com/oci-connector/oci-connector/pkg/proxyenv"
	"github.com/oci-connector/oci-connector/test/auditproc"
	"github.com/oci-connector/oci-connector/test/postgres"
	"github.com/oci-connector/oci-connector/test/registry"
)

// auditRow is what GET /events returns of one event.
type auditRow struct {
	Type, Subject, Identity, Outcome, Reason, Repository, Namespace, Connector string
	Data                                                                       json.RawMessage
}

// waitForAudit waits until the audit function holds a row that matches
// query (GET /events parameters) and match, and returns that row: a test
// waits for exactly the event it asserts on, not for any row.
func waitForAudit(t *testing.T, audit *auditproc.Proc, query url.Values, match func(auditRow) bool) auditRow {
	t.Helper()
	var found auditRow
	waitFor(t, "an audit row for "+query.Encode(), func(ctx context.Context) (bool, string) {
		rows, err := auditRows(audit, query)
		if err != nil {
			return false, err.Error()
		}
		for _, r := range rows {
			if match(r) {
				found = r
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d rows, none matching: %+v", len(rows), rows)
	})
	return found
}

// auditRows reads the rows that match query now, as a reader of every
// namespace's trail.
func auditRows(audit *auditproc.Proc, query url.Values) ([]auditRow, error) {
	req, _ := http.NewRequest("GET", audit.URL+"/events?"+query.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+auditReaderToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var page struct{ Events []auditRow }
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return nil, err
	}
	return page.Events, nil
}

func anyRow(auditRow) bool { return true }

// The proxy's events reach the audit function (on PostgreSQL) over HTTP: a
// pull is a row with the ServiceAccount's identity, a refusal a row with its
// reason, and no row holds a token or the upstream password.
func TestProxyEventsReachTheAuditTrail(t *testing.T) {
	audit := auditproc.Start(t, cluster, postgres.Start(t))
	reg := registry.NewHtpasswd(t)
	s := setupProxyAuditing(t, reg, "audit-proxy", audit.URL, "--sink", audit.URL)

	if _, err := remote.Get(s.ref(t, registry.SeedRepository+":"+registry.SeedTag), remote.WithAuth(basicAuth(s.puller))); err != nil {
		t.Fatalf("pulling through the proxy: %v", err)
	}
	pulled := waitForAudit(t, audit, url.Values{"type": {events.ImagePulled}}, anyRow)
	if r := pulled; r.Identity != "system:serviceaccount:audit-proxy:puller" || r.Outcome != events.OutcomeAllowed ||
		r.Repository != registry.SeedRepository || r.Subject != registryHost(reg)+"/"+registry.SeedRepository+":"+registry.SeedTag {
		t.Errorf("image.pulled row %+v", r)
	}
	// The client's anonymous GET /v2/ before it logged in is no refusal on
	// the record: the proxy sends its events in order, so had it been one,
	// it would be here before the pull.
	handshakes, err := auditRows(audit, url.Values{"type": {events.AccessDenied}})
	if err != nil {
		t.Fatal(err)
	}
	if len(handshakes) != 0 {
		t.Errorf("access.denied rows for a client that pulled: %+v, want none", handshakes)
	}

	if _, err := remote.Get(s.ref(t, registry.SeedRepository+":"+registry.SeedTag), remote.WithAuth(basicAuth(s.nobody))); err == nil {
		t.Fatal("a ServiceAccount without RBAC pulled")
	}
	denied := waitForAudit(t, audit, url.Values{"type": {events.AccessDenied}, "identity": {"system:serviceaccount:audit-proxy:nobody"}}, anyRow)
	if r := denied; r.Reason != events.ReasonNoRBAC || r.Outcome != events.OutcomeDenied {
		t.Errorf("access.denied row %+v", r)
	}

	resp, err := http.Get("http://" + s.proxy.Host + "/v2/" + registry.SeedRepository + "/manifests/" + registry.SeedTag)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The wait fails the test when the no-token refusal never arrives.
	waitForAudit(t, audit, url.Values{"type": {events.AccessDenied}, "subject": {registryHost(reg) + "/" + registry.SeedRepository + ":" + registry.SeedTag}},
		func(r auditRow) bool { return r.Reason == events.ReasonNoToken && r.Identity == "" })

	all, err := auditRows(audit, url.Values{"limit": {"1000"}})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(all)
	for _, secret := range []string{registry.Password, s.puller, s.nobody} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the audit trail holds a credential")
		}
	}
}

// The controller resolves spec.sink into status.sinkUri and the proxy's
// K_SINK, and sends pullsecrets.refresh for a new Connector with pull
// secrets and credentials.rotated when its Secret changes.
func TestControllerEventsReachTheAuditTrail(t *testing.T) {
	audit := installAudit
	reg := registry.NewHtpasswd(t)
	ns := "audit-controller"
	sink, err := apis.ParseURL(audit.URL)
	if err != nil {
		t.Fatal(err)
	}
	connectorWithSink(t, ns, reg, &duckv1.Destination{URI: sink})
	got := waitForCondition(t, ns, "harbor", v1alpha1.ConditionReady, corev1.ConditionTrue, "")
	if got.Status.SinkURI == nil || got.Status.SinkURI.String() != audit.URL {
		t.Errorf("status.sinkUri = %v, want %s", got.Status.SinkURI, audit.URL)
	}
	ksvc := waitForService(t, ns, "c-harbor", nil)
	var kSink string
	for _, e := range ksvc.Spec.Template.Spec.Containers[0].Env {
		if e.Name == proxyenv.Sink {
			kSink = e.Value
		}
	}
	if kSink != audit.URL {
		t.Errorf("the proxy's %s = %q, want %s", proxyenv.Sink, kSink, audit.URL)
	}
	waitForAudit(t, audit, url.Values{"type": {events.PullSecretsRefresh}, "connector": {ns + "/harbor"}}, func(r auditRow) bool {
		var refresh events.RefreshData
		return json.Unmarshal(r.Data, &refresh) == nil && refresh.Reason == events.RefreshConnectorChanged
	})

	// Rotate the password: the reconciler rolls the proxy and says so.
	secret, err := cluster.Client.CoreV1().Secrets(ns).Get(context.Background(), "upstream", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reg.RotatePassword(t, "rotated-password")
	secret.Data["password"] = []byte("rotated-password")
	if _, err := cluster.Client.CoreV1().Secrets(ns).Update(context.Background(), secret, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	row := waitForAudit(t, audit, url.Values{"type": {events.CredentialsRotated}, "connector": {ns + "/harbor"}}, anyRow)
	var rotated events.CredentialsData
	if err := json.Unmarshal(row.Data, &rotated); err != nil || rotated.Secret != "upstream" || len(rotated.DigestPrefix) != 8 {
		t.Errorf("credentials.rotated data %s (%v)", row.Data, err)
	}
	if strings.Contains(string(row.Data), "rotated-password") || strings.Contains(string(row.Data), registry.Password) {
		t.Errorf("credentials.rotated holds the password: %s", row.Data)
	}
}

// The audit binary takes events only from senders that present a
// ServiceAccount token for its audience, and from a Connector's namespace
// only about that namespace's Connectors; it shows each reader the trail of
// the namespaces RBAC lets them read.
func TestAuditTrailAuthenticatesSenders(t *testing.T) {
	audit := auditproc.Start(t, cluster, "")
	cluster.EnsureServiceAccount(t, "audit-team-a", "oci-connector-proxy")
	teamA := cluster.Token(t, "audit-team-a", "oci-connector-proxy", events.AuditAudience, time.Hour)
	wrongAudience := cluster.Token(t, "audit-team-a", "oci-connector-proxy", v1alpha1.NodeAudience, time.Hour)
	teamAOther := cluster.Token(t, "audit-team-a", "default", events.AuditAudience, time.Hour)
	installOther := cluster.Token(t, connectorapi.SystemNamespace, "oci-connector-csi", events.AuditAudience, time.Hour)
	controller := cluster.Token(t, connectorapi.SystemNamespace, connectorapi.ControllerServiceAccount, events.AuditAudience, time.Hour)
	forged := identitytest.NewSigner().Token(events.AuditAudience, "system:serviceaccount:"+connectorapi.SystemNamespace+":"+connectorapi.ControllerServiceAccount, time.Now().Add(time.Hour))
	post := func(token, namespace, id string) int {
		e, err := events.New(events.ImagePulled, namespace, "harbor", "", events.ImageData{Connector: "harbor", Namespace: namespace})
		if err != nil {
			t.Fatal(err)
		}
		e.SetID(id)
		body, _ := json.Marshal(e)
		req, _ := http.NewRequest("POST", audit.URL, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/cloudevents+json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name, token, namespace string
		want                   int
	}{
		{"no token", "", "audit-team-a", http.StatusUnauthorized},
		{"a token for another audience", wrongAudience, "audit-team-a", http.StatusUnauthorized},
		{"a team's proxy about another namespace", teamA, "audit-platform", http.StatusForbidden},
		{"a team's proxy about its own", teamA, "audit-team-a", http.StatusAccepted},
		{"another ServiceAccount of the team about its own", teamAOther, "audit-team-a", http.StatusForbidden},
		{"an install ServiceAccount that is neither the controller nor tokenrefresh", installOther, "audit-platform", http.StatusForbidden},
		{"a token the cluster did not sign, claiming the controller", forged, "audit-platform", http.StatusUnauthorized},
		{"the controller about any namespace", controller, "audit-platform", http.StatusAccepted},
	} {
		if got := post(tc.token, tc.namespace, strings.ReplaceAll(tc.name, " ", "-")); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	rows, err := auditRows(audit, url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Namespace == rows[1].Namespace {
		t.Errorf("rows %+v, want only the two accepted events, one about each namespace", rows)
	}

	// Readers: team-a's sees its own trail; one with no binding sees none;
	// without a token, nothing at all.
	cluster.BindClusterRole(t, "audit-team-a", "auditor", "oci-connector-audit-reader", "audit-team-a")
	for _, tc := range []struct {
		name, token string
		wantStatus  int
		wantRows    int
	}{
		{"team-a's reader", cluster.Token(t, "audit-team-a", "auditor", "", time.Hour), http.StatusOK, 1},
		{"a reader bound nowhere", cluster.Token(t, "audit-team-b", "auditor", "", time.Hour), http.StatusOK, 0},
		{"no token", "", http.StatusUnauthorized, 0},
	} {
		req, _ := http.NewRequest("GET", audit.URL+"/events", nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct{ Events []auditRow }
		_ = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode != tc.wantStatus || len(page.Events) != tc.wantRows {
			t.Errorf("%s: %d with %d rows, want %d with %d", tc.name, resp.StatusCode, len(page.Events), tc.wantStatus, tc.wantRows)
		}
	}
}

// Refusals of a client that has not logged in are aggregated on the record:
// the first at once, the rest as one row with their count.
func TestUnauthenticatedRefusalsAreAggregatedOnTheRecord(t *testing.T) {
	audit := auditproc.Start(t, cluster, "")
	reg := registry.NewHtpasswd(t)
	s := setupProxyAuditing(t, reg, "audit-flood", audit.URL, "--sink", audit.URL)
	for i := range 5 {
		resp, _ := s.do(t, "GET", "/v2/"+registry.SeedRepository+"/manifests/"+registry.SeedTag, fmt.Sprintf("garbage-%d", i), nil, nil)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a garbage token: %d, want 401", resp.StatusCode)
		}
	}
	// Every refusal is accounted for: a row stands for one, or for its
	// count when it aggregates. (An interval may end amid the five, so
	// there may be two pairs of rows.)
	query := url.Values{"type": {events.AccessDenied}, "connector": {"audit-flood/harbor"}}
	var rows []auditRow
	waitFor(t, "the 5 refusals accounted for in the audit trail", func(context.Context) (bool, string) {
		var err error
		if rows, err = auditRows(audit, query); err != nil {
			return false, err.Error()
		}
		refusals := 0
		for _, r := range rows {
			var d events.ImageData
			if json.Unmarshal(r.Data, &d) != nil || d.Reason != events.ReasonBadToken || d.Client == "" {
				return false, fmt.Sprintf("row %+v", r)
			}
			refusals += max(d.Count, 1)
		}
		return refusals == 5, fmt.Sprintf("%d refusals in %d rows", refusals, len(rows))
	})
	if len(rows) > 4 {
		t.Errorf("%d rows for 5 refusals of one client: not aggregated", len(rows))
	}
}
