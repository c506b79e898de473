package main

import (
	"context"
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"go.uber.org/zap"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	ktesting "k8s.io/client-go/testing"

	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/pkg/identity"
	"github.com/oci-connector/oci-connector/pkg/identity/identitytest"
	"github.com/oci-connector/oci-connector/test/harness"
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
	kube := fakeTokenReview()
	verifier := identity.NewVerifier(testSigner.Keys())
	readers := &readerAuth{
		authn:    identity.NewAuthenticator(verifier, kube.AuthenticationV1().TokenReviews(), identity.WithForeignIssuers()),
		authz:    identity.NewAuthorizer(kube.AuthorizationV1().SubjectAccessReviews(), tokenTTL, tokenTTL),
		sessions: newSessions(),
	}
	srv := httptest.NewServer((&server{store: st, writes: newBatcher(ctx, st),
		senders: newSenderAuth(identity.NewAuthenticator(verifier, kube.AuthenticationV1().TokenReviews()), "oci-connector"),
		readers: readers, logger: zap.NewNop().Sugar(), now: time.Now}).routes())
	t.Cleanup(srv.Close)
	return srv, st
}

// testSigner signs the tests' tokens; the server verifies with its keys.
var testSigner = identitytest.NewSigner()

func signed(audience, sub string) string {
	return testSigner.Token(audience, sub, time.Now().Add(time.Hour))
}

// The senders the fake TokenReview knows, by token: the controller, the
// proxy of a Connector in team-a, and two that may not record (another
// ServiceAccount of team-a, and one of the install namespace that is
// neither the controller nor tokenrefresh); and the readers: one who may
// read every namespace's trail, one only team-a's.
var (
	controllerToken   = signed(events.AuditAudience, "controller")
	teamAProxyToken   = signed(events.AuditAudience, "team-a-proxy")
	teamAOtherToken   = signed(events.AuditAudience, "team-a-other")
	installOtherToken = signed(events.AuditAudience, "install-other")
	adminReader       = signed("https://kubernetes.default.svc", "admin")
	teamAReader       = signed("https://kubernetes.default.svc", "team-a-viewer")
)

func fakeTokenReview() *fake.Clientset {
	client := fake.NewClientset()
	client.PrependReactor("create", "tokenreviews", func(a ktesting.Action) (bool, runtime.Object, error) {
		tr := a.(ktesting.CreateAction).GetObject().(*authenticationv1.TokenReview)
		audienceOK := len(tr.Spec.Audiences) == 1 && tr.Spec.Audiences[0] == events.AuditAudience
		switch {
		case tr.Spec.Token == controllerToken && audienceOK:
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "system:serviceaccount:oci-connector:oci-connector-controller"}}
		case tr.Spec.Token == teamAProxyToken && audienceOK:
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "system:serviceaccount:team-a:oci-connector-proxy"}}
		case tr.Spec.Token == teamAOtherToken && audienceOK:
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "system:serviceaccount:team-a:default"}}
		case tr.Spec.Token == installOtherToken && audienceOK:
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "system:serviceaccount:oci-connector:oci-connector-csi"}}
		case tr.Spec.Token == adminReader && len(tr.Spec.Audiences) == 0:
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "admin"}}
		case tr.Spec.Token == teamAReader && len(tr.Spec.Audiences) == 0:
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "system:serviceaccount:team-a:viewer"}}
		}
		if tr.Status.Authenticated {
			tr.Status.Audiences = tr.Spec.Audiences
		}
		return true, tr, nil
	})
	client.PrependReactor("create", "subjectaccessreviews", func(a ktesting.Action) (bool, runtime.Object, error) {
		sar := a.(ktesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview).DeepCopy()
		attrs := sar.Spec.ResourceAttributes
		isAudit := attrs.Verb == "get" && attrs.Resource == "connectors" && attrs.Subresource == "audit"
		sar.Status.Allowed = isAudit && (sar.Spec.User == "admin" ||
			(sar.Spec.User == "system:serviceaccount:team-a:viewer" && attrs.Namespace == "team-a"))
		return true, sar, nil
	})
	return client
}

// send delivers e as a Sender does, CloudEvents over HTTP in binary mode,
// with token as its credential, and returns the status.
func send(t *testing.T, target, token string, e cloudevents.Event) int {
	t.Helper()
	client, err := cloudevents.NewClientHTTP()
	if err != nil {
		t.Fatal(err)
	}
	ctx := cloudevents.ContextWithTarget(context.Background(), target)
	if token != "" {
		ctx = cehttp.WithCustomHeader(ctx, http.Header{"Authorization": {"Bearer " + token}})
	}
	res := client.Send(ctx, e)
	var httpResult *cehttp.Result
	if !cloudevents.ResultAs(res, &httpResult) {
		t.Fatalf("delivering %s: %v", e.ID(), res)
	}
	return httpResult.StatusCode
}

// deliver sends e as the controller, which may record any Connector's.
func deliver(t *testing.T, target string, e cloudevents.Event) {
	t.Helper()
	if code := send(t, target, controllerToken, e); code != http.StatusAccepted {
		t.Fatalf("delivering %s: %d", e.ID(), code)
	}
}

func getJSON(t *testing.T, u string, into any) int {
	t.Helper()
	return getJSONAs(t, adminReader, u, into)
}

// getJSONAs reads u as the reader with token.
func getJSONAs(t *testing.T, token, u string, into any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
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

// seedCachedPulls adds pulls through a caching Connector: 3 of 4 from its
// cache.
func seedCachedPulls(t *testing.T, target string) {
	t.Helper()
	for i, result := range []string{events.CacheMiss, events.CacheHit, events.CacheHit, events.CacheStale} {
		d := pulled("platform", "cached", "team/app", "system:serviceaccount:team-a:default")
		d.Cache = result
		deliver(t, target, event(t, events.ImagePulled, fmt.Sprintf("c%d", i), time.Now().Add(-3*time.Minute), d))
	}
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

// An authenticated sender's body that is not a CloudEvent is refused 400.
func TestReceiverRefusesWhatIsNotACloudEvent(t *testing.T) {
	srv, st := newTestServer(t)
	req, _ := http.NewRequest("POST", srv.URL, strings.NewReader(`{"hello":"world"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+controllerToken)
	resp, err := http.DefaultClient.Do(req)
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
	seedCachedPulls(t, srv.URL)
	// Chromium comes through a front that logs it in, as an authenticating
	// proxy in front of the page would.
	target, _ := url.Parse(srv.URL)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+adminReader)
		httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, r)
	}))
	defer front.Close()
	dom := func(query string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
			"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--user-data-dir="+t.TempDir(), "--dump-dom", front.URL+"/"+query).Output()
		if err != nil {
			t.Fatalf("chromium: %v", err)
		}
		return string(out)
	}
	all := dom("")
	for _, want := range []string{"team/app:v1", "team/secret:v1", "system:serviceaccount:team-b:builder", events.ReasonNoRBAC,
		// The charts: pulls per image and per namespace, refusals per reason.
		`id="pulls-per-image"`, "platform/harbor:team/app", `id="pulls-per-namespace"`, `id="denials-per-reason"`,
		// The cache's hit ratio per caching Connector.
		`id="cache-hit-ratio"`, "platform/cached (3 of 4)", "75%"} {
		if !strings.Contains(all, want) {
			t.Errorf("the page lacks %q:\n%s", want, all)
		}
	}

	// What a person sees: the charts' bars are drawn, in both colours.
	shot := filepath.Join(t.TempDir(), "page.png")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--user-data-dir="+t.TempDir(), "--window-size=1280,900", "--screenshot="+shot, front.URL+"/").CombinedOutput(); err != nil {
		t.Fatalf("chromium screenshot: %v\n%s", err, out)
	}
	pulls, refusals := harness.ColourPixels(t, shot, color.RGBA{0x34, 0x65, 0xa4, 0xff}), harness.ColourPixels(t, shot, color.RGBA{0xa4, 0x00, 0x00, 0xff})
	// A bar is at least 16 pixels high; the longest 300 wide.
	if pulls < 16*300 || refusals < 16*300 {
		t.Errorf("the screenshot has %d pixels of the pulls' bars and %d of the refusals', want a full bar of each", pulls, refusals)
	}
	// The hit ratio's bar is three quarters of the full width.
	if hits := harness.ColourPixels(t, shot, color.RGBA{0x4e, 0x9a, 0x06, 0xff}); hits < 16*225 || hits >= 16*300 {
		t.Errorf("the screenshot has %d pixels of the hit ratio's bar, want 16 by 225", hits)
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

// Only a sender with a token for the audit audience may write, and a
// Connector's proxy only about its own namespace's Connectors.
func TestSendersAreAuthenticated(t *testing.T) {
	srv, _ := newTestServer(t)
	teamA := event(t, events.ImagePulled, "a1", time.Now(), pulled("team-a", "harbor", "team/app", "u"))
	platform := event(t, events.ImagePulled, "p1", time.Now(), pulled("platform", "harbor", "team/app", "u"))
	// The data says team-a, the source says platform.
	forged := event(t, events.ImagePulled, "f1", time.Now(), pulled("team-a", "harbor", "team/app", "u"))
	forged.SetSource(events.Source("platform", "harbor"))
	for _, tc := range []struct {
		name  string
		token string
		e     cloudevents.Event
		want  int
	}{
		{"no credential", "", teamA, http.StatusUnauthorized},
		{"a token the cluster did not sign", identitytest.NewSigner().Token(events.AuditAudience, "team-a-proxy", time.Now().Add(time.Hour)), teamA, http.StatusUnauthorized},
		{"a signed token TokenReview does not accept", signed(events.AuditAudience, "gone"), teamA, http.StatusUnauthorized},
		{"a token for another audience", signed("oci-connector.dev/team-a/harbor", "team-a-proxy"), teamA, http.StatusUnauthorized},
		{"another ServiceAccount of the proxy's namespace", teamAOtherToken, teamA, http.StatusForbidden},
		{"an install ServiceAccount that is neither the controller nor tokenrefresh", installOtherToken, platform, http.StatusForbidden},
		{"a proxy about its own namespace", teamAProxyToken, teamA, http.StatusAccepted},
		{"a proxy about another namespace", teamAProxyToken, platform, http.StatusForbidden},
		{"data and source that disagree", teamAProxyToken, forged, http.StatusForbidden},
		{"the controller about any namespace", controllerToken, platform, http.StatusAccepted},
	} {
		if got := send(t, srv.URL, tc.token, tc.e); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	var list struct{ Events []record }
	getJSON(t, srv.URL+"/events", &list)
	if len(list.Events) != 2 {
		t.Errorf("%d rows stored, want the 2 accepted: %+v", len(list.Events), list.Events)
	}
}

// A reader sees the trail of the namespaces where RBAC lets them get
// connectors/audit, and nothing without a token; the page asks them to log
// in, and keeps the token in a cookie.
func TestReadersSeeTheirOwnTrail(t *testing.T) {
	srv, _ := newTestServer(t)
	deliver(t, srv.URL, event(t, events.ImagePulled, "a1", time.Now(), pulled("team-a", "harbor", "team/app", "u")))
	deliver(t, srv.URL, event(t, events.ImagePulled, "b1", time.Now(), pulled("team-b", "harbor", "team/app", "u")))
	var list struct{ Events []record }
	var problem map[string]string
	if code := getJSONAs(t, "", srv.URL+"/events", &problem); code != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", code)
	}
	if code := getJSONAs(t, "not-a-token", srv.URL+"/stats", &problem); code != http.StatusUnauthorized {
		t.Errorf("a token the API server refuses: %d, want 401", code)
	}
	if code := getJSONAs(t, teamAReader, srv.URL+"/events", &list); code != 200 || len(list.Events) != 1 || list.Events[0].Namespace != "team-a" {
		t.Errorf("team-a's reader: %d %+v, want team-a's event only", code, list.Events)
	}
	if code := getJSONAs(t, teamAReader, srv.URL+"/events?namespace=team-b", &list); code != 200 || len(list.Events) != 0 {
		t.Errorf("team-a's reader asking for team-b: %d %+v, want nothing", code, list.Events)
	}
	var stats struct {
		PerImage []count `json:"pullsPerImage"`
	}
	if code := getJSONAs(t, teamAReader, srv.URL+"/stats", &stats); code != 200 || len(stats.PerImage) != 1 || stats.PerImage[0].Key != "team-a/harbor:team/app" {
		t.Errorf("team-a's reader's stats: %d %+v", code, stats.PerImage)
	}
	if code := getJSONAs(t, adminReader, srv.URL+"/events", &list); code != 200 || len(list.Events) != 2 {
		t.Errorf("a reader of every namespace: %d, %d events, want 2", code, len(list.Events))
	}

	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `action="/login"`) || strings.Contains(string(page), "team/app") {
		t.Errorf("the page without a token: want a login form and no events:\n%s", page)
	}
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	page = login(t, client, srv.URL, teamAReader)
	if !strings.Contains(string(page), "team-a/harbor") || strings.Contains(string(page), "team-b/harbor") {
		t.Errorf("the page after logging in as team-a's reader:\n%s", page)
	}
}

// login logs client in on the page as a browser does: the form, with its
// CSRF token, then the post; it returns the page it lands on.
func login(t *testing.T, client *http.Client, base, token string) []byte {
	t.Helper()
	resp, err := client.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	form, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(form)
	if m == nil {
		t.Fatalf("the login form has no CSRF token:\n%s", form)
	}
	resp, err = client.PostForm(base+"/login", url.Values{"token": {token}, "csrf": {string(m[1])}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return page
}

// The page's login keeps the token on the server: the browser holds a
// random session ID, HttpOnly, SameSite, Secure behind an HTTPS ingress.
// A login without the form's CSRF token, or with a token the API server
// refuses, opens no session.
func TestPageLoginSessions(t *testing.T) {
	srv, _ := newTestServer(t)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	if page := login(t, client, srv.URL, teamAReader); strings.Contains(string(page), `action="/login"`) {
		t.Fatalf("still asked to log in after logging in:\n%s", page)
	}
	u, _ := url.Parse(srv.URL)
	for _, c := range jar.Cookies(u) {
		if c.Name == SessionCookie && (c.Value == teamAReader || strings.Contains(c.Value, ".")) {
			t.Errorf("the session cookie holds the token: %q", c.Value)
		}
	}

	// Another site's form: no CSRF cookie, or a field that does not match.
	for name, form := range map[string]url.Values{
		"no CSRF field":      {"token": {teamAReader}},
		"a wrong CSRF field": {"token": {teamAReader}, "csrf": {strings.Repeat("x", 43)}},
	} {
		fresh, _ := cookiejar.New(nil)
		c := &http.Client{Jar: fresh, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		if _, err := c.Get(srv.URL + "/"); err != nil { // gets a CSRF cookie of its own
			t.Fatal(err)
		}
		resp, err := c.PostForm(srv.URL+"/login", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
			t.Errorf("%s: %d with cookies %v, want 403 and no session", name, resp.StatusCode, resp.Cookies())
		}
	}

	// Behind an ingress that ended TLS, the cookies are Secure.
	req, _ := http.NewRequest("GET", srv.URL+"/", nil)
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
			t.Errorf("cookie %s behind HTTPS: Secure=%v HttpOnly=%v SameSite=%v", c.Name, c.Secure, c.HttpOnly, c.SameSite)
		}
	}
}

// A sender is authenticated from its headers before its body is read: an
// unauthenticated request is refused 401 whatever it carries.
func TestUnauthenticatedBodiesAreNotRead(t *testing.T) {
	srv, _ := newTestServer(t)
	resp, err := http.Post(srv.URL+"/", "application/cloudevents-batch+json", strings.NewReader("[not json"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("an unauthenticated, malformed batch: %d, want 401", resp.StatusCode)
	}
}

// A batch (application/cloudevents-batch+json) is stored whole, or, when
// one of its events is about a namespace its sender may not speak for,
// refused whole.
func TestBatchesAreTakenWholeOrNotAtAll(t *testing.T) {
	srv, _ := newTestServer(t)
	post := func(batch []cloudevents.Event) int {
		req, err := cehttp.NewHTTPRequestFromEvents(context.Background(), srv.URL, batch)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+teamAProxyToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	var mine []cloudevents.Event
	for i := range 3 {
		mine = append(mine, event(t, events.ImagePulled, fmt.Sprintf("b%d", i), time.Now(), pulled("team-a", "harbor", "team/app", "u")))
	}
	foreign := event(t, events.ImagePulled, "x1", time.Now(), pulled("platform", "harbor", "team/app", "u"))
	if got := post(append([]cloudevents.Event{event(t, events.ImagePulled, "m1", time.Now(), pulled("team-a", "harbor", "team/app", "u"))}, foreign)); got != http.StatusForbidden {
		t.Errorf("a batch with another namespace's event: %d, want 403", got)
	}
	if got := post(mine); got != http.StatusAccepted {
		t.Fatalf("a batch of the sender's own events: %d, want 202", got)
	}
	var list struct{ Events []record }
	getJSON(t, srv.URL+"/events", &list)
	if len(list.Events) != 3 {
		t.Errorf("%d rows stored, want the 3 of the accepted batch: %+v", len(list.Events), list.Events)
	}
}
