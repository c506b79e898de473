package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.uber.org/zap"

	"github.com/oci-connector/oci-connector/pkg/events"
)

// newTestServer serves the audit function over a fresh SQLite file.
func newTestServer(t *testing.T) (*httptest.Server, *store) {
	t.Helper()
	st, err := openStore(context.Background(), "", filepath.Join(t.TempDir(), "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv := httptest.NewServer((&server{store: st, writes: newBatcher(ctx, st), logger: zap.NewNop().Sugar(), now: time.Now}).routes())
	t.Cleanup(srv.Close)
	return srv, st
}

// deliver sends e as the proxy's sender does: CloudEvents over HTTP, binary mode.
func deliver(t *testing.T, target string, e cloudevents.Event) {
	t.Helper()
	client, err := cloudevents.NewClientHTTP()
	if err != nil {
		t.Fatal(err)
	}
	if res := client.Send(cloudevents.ContextWithTarget(context.Background(), target), e); !cloudevents.IsACK(res) {
		t.Fatalf("delivering %s: %v", e.ID(), res)
	}
}

func getJSON(t *testing.T, u string, into any) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return resp.StatusCode
}

func seedEvents(t *testing.T, target string) {
	t.Helper()
	now := time.Now()
	deliver(t, target, event(t, events.ImagePulled, "p1", now.Add(-2*time.Minute), pulled("platform", "harbor", "team/app", "system:serviceaccount:team-a:default")))
	deliver(t, target, event(t, events.AccessDenied, "d1", now.Add(-time.Minute), events.ImageData{Connector: "harbor", Namespace: "platform",
		Repository: "team/secret", Reference: "v1", Identity: events.Identity{Username: "system:serviceaccount:team-b:builder"},
		Outcome: events.OutcomeDenied, Reason: events.ReasonNoRBAC}))
}

func TestReceiveAndQuery(t *testing.T) {
	srv, _ := newTestServer(t)
	seedEvents(t, srv.URL)
	// The same event again: still one row.
	deliver(t, srv.URL, event(t, events.ImagePulled, "p1", time.Now().Add(-2*time.Minute), pulled("platform", "harbor", "team/app", "system:serviceaccount:team-a:default")))

	var list struct {
		Events []record `json:"events"`
		Next   string   `json:"next"`
	}
	if code := getJSON(t, srv.URL+"/events", &list); code != 200 || len(list.Events) != 2 {
		t.Fatalf("GET /events: %d, %d events", code, len(list.Events))
	}
	if code := getJSON(t, srv.URL+"/events?type="+url.QueryEscape(events.AccessDenied)+"&since=1h", &list); code != 200 ||
		len(list.Events) != 1 || list.Events[0].Reason != events.ReasonNoRBAC || list.Events[0].Identity != "system:serviceaccount:team-b:builder" {
		t.Fatalf("denied events: %d %+v", code, list.Events)
	}
	if code := getJSON(t, srv.URL+"/events?limit=1", &list); code != 200 || len(list.Events) != 1 || list.Next == "" {
		t.Fatalf("a first page of one: %d %+v next %q", code, list.Events, list.Next)
	}
	if code := getJSON(t, srv.URL+"/events?cursor="+list.Next, &list); code != 200 || len(list.Events) != 1 || list.Events[0].ID != "p1" {
		t.Fatalf("the second page: %d %+v", code, list.Events)
	}

	var stats struct {
		PerImage     []count `json:"pullsPerImage"`
		PerNamespace []count `json:"pullsPerNamespace"`
	}
	if code := getJSON(t, srv.URL+"/stats?since=1h", &stats); code != 200 ||
		len(stats.PerImage) != 1 || stats.PerImage[0] != (count{"platform/harbor:team/app", 1}) || stats.PerNamespace[0] != (count{"team-a", 1}) {
		t.Fatalf("stats: %d %+v", code, stats)
	}

	var problem map[string]string
	for _, bad := range []string{"/events?since=yesterday", "/events?limit=0", "/events?cursor=zzz", "/stats?until=soon"} {
		if code := getJSON(t, srv.URL+bad, &problem); code != 400 || problem["error"] == "" {
			t.Errorf("GET %s: %d %v, want 400 with an error", bad, code, problem)
		}
	}
}

func TestReceiverRefusesWhatIsNotACloudEvent(t *testing.T) {
	srv, st := newTestServer(t)
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"hello":"world"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a plain JSON body: %d, want 400", resp.StatusCode)
	}
	if rows, _, _ := st.query(context.Background(), filter{}); len(rows) != 0 {
		t.Errorf("stored %d rows from a bad request", len(rows))
	}
}

// The page, loaded in headless Chromium, shows the rows and filters them.
func TestPageInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed (apt-get install chromium; .ci/run does)")
	}
	srv, _ := newTestServer(t)
	seedEvents(t, srv.URL)
	dom := func(query string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
			"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--user-data-dir="+t.TempDir(), "--dump-dom", srv.URL+"/"+query).Output()
		if err != nil {
			t.Fatalf("chromium: %v", err)
		}
		return string(out)
	}
	all := dom("")
	for _, want := range []string{"team/app:v1", "team/secret:v1", "system:serviceaccount:team-b:builder", events.ReasonNoRBAC} {
		if !strings.Contains(all, want) {
			t.Errorf("the page lacks %q:\n%s", want, all)
		}
	}
	denied := dom("?type=" + url.QueryEscape(events.AccessDenied))
	if !strings.Contains(denied, "team/secret:v1") || strings.Contains(denied, "team/app:v1") {
		t.Errorf("filtered by access.denied, the page shows:\n%s", denied)
	}
	byIdentity := dom("?identity=" + url.QueryEscape("system:serviceaccount:team-a:default"))
	if !strings.Contains(byIdentity, "team/app:v1") || strings.Contains(byIdentity, "team/secret:v1") {
		t.Errorf("filtered by identity, the page shows:\n%s", byIdentity)
	}
}
