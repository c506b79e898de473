package scenarios

import (
	"context"
	"fmt"
	"image/color"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/realnode"
	"github.com/oci-connector/oci-connector/test/registry"
)

// The audit function runs as the installed Knative Service: a pod's pull
// and a refused pull through a Connector whose sink it is reach it, and its
// page, served through Traefik and loaded in headless Chromium, shows them
// with its charts drawn.
func TestAuditPageThroughKnative(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed (apt-get install chromium; .ci/run does)")
	}
	ns := "audit-page"
	cluster.EnsureServiceAccount(t, ns, "app")
	cluster.EnsureServiceAccount(t, ns, "nobody")
	cluster.BindClusterRole(t, ns, "app", connectorapi.PullerClusterRole, ns)
	proxy := startConnector(t, ns, "harbor", func(s *v1alpha1.ConnectorSpec) {
		s.Sink = &duckv1.Destination{URI: apis.HTTP(auditHost)}
		s.PullSecrets = &v1alpha1.PullSecretsSpec{ServiceAccounts: []string{"app"}}
	})
	// An image of its own, which the node has never held: containerd asks
	// only for the digest (HEAD) of a manifest it has, and a HEAD is no
	// pull on the record.
	const image = "team/audited:v1"
	realnode.PushGoImage(t, "./test/realnode/pause", upstream.Host+"/"+image, registry.RobotAuth())
	realnode.AppendRandomLayer(t, upstream.Host+"/"+image, 1024, registry.RobotAuth())
	pullSecretOn(t, ns, "app", nil)
	runPod(t, ns, "app", "app", proxy.Host+"/"+image)
	waitRunning(t, ns, "app")
	runPod(t, ns, "nobody", "nobody", proxy.Host+"/"+image)
	waitPullRefused(t, ns, "nobody")

	reader := cluster.Token(t, connectorapi.SystemNamespace, "audit-reader", "", time.Hour)
	cluster.BindClusterRole(t, connectorapi.SystemNamespace, "audit-reader", "oci-connector-audit-reader", "")
	// The pull as the app's ServiceAccount, and the refusal of the pod
	// that had no pull secret.
	for kind, want := range map[string]func(auditRow) bool{
		events.ImagePulled:  func(r auditRow) bool { return r.Identity == "system:serviceaccount:"+ns+":app" },
		events.AccessDenied: func(r auditRow) bool { return r.Reason == events.ReasonNoToken },
	} {
		waitFor(t, "the "+kind+" row of "+image, func(ctx context.Context) (bool, string) {
			rows, err := auditRows(ctx, reader, url.Values{"type": {kind}, "namespace": {ns}})
			if err != nil {
				return false, err.Error()
			}
			for _, r := range rows {
				if r.Repository == "team/audited" && want(r) {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%+v", rows)
		})
	}

	// Chromium comes through a front that logs it in, as an authenticating
	// proxy in front of the page would; the page itself comes through
	// Traefik and the audit function's revision.
	target := &url.URL{Scheme: "http", Host: auditHost}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+reader)
		r.Host = auditHost
		httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, r)
	}))
	defer front.Close()
	flags := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir=" + t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dom, err := exec.CommandContext(ctx, chromium, append(flags, "--dump-dom", front.URL+"/?namespace="+ns)...).Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	for _, want := range []string{"system:serviceaccount:" + ns + ":app", image, `id="pulls-per-image"`, `id="denials-per-reason"`} {
		if !strings.Contains(string(dom), want) {
			t.Errorf("the page lacks %q:\n%s", want, dom)
		}
	}
	shot := filepath.Join(t.TempDir(), "page.png")
	if out, err := exec.CommandContext(ctx, chromium, append(flags, "--hide-scrollbars", "--window-size=1280,900",
		"--screenshot="+shot, front.URL+"/?namespace="+ns)...).CombinedOutput(); err != nil {
		t.Fatalf("chromium screenshot: %v\n%s", err, out)
	}
	// The pulls' bars and the refusals' are drawn; a bar is at least 16
	// pixels high, the longest 300 wide.
	pulls, refusals := harness.ColourPixels(t, shot, color.RGBA{0x34, 0x65, 0xa4, 0xff}), harness.ColourPixels(t, shot, color.RGBA{0xa4, 0x00, 0x00, 0xff})
	if pulls < 16*300 || refusals < 16*300 {
		t.Errorf("the screenshot has %d pixels of the pulls' bars and %d of the refusals', want a full bar of each", pulls, refusals)
	}
}
