package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"
)

// rotatingUpstream takes Basic auth with its current password only, and
// answers 401 for repositories it does not have, as registries do; it
// counts the requests that present each password.
type rotatingUpstream struct {
	*httptest.Server
	mu       sync.Mutex
	password string
	byPass   map[string]int
}

func newRotatingUpstream(t *testing.T, password string) *rotatingUpstream {
	u := &rotatingUpstream{password: password, byPass: map[string]int{}}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pass, ok := r.BasicAuth()
		u.mu.Lock()
		if ok {
			u.byPass[pass]++
		}
		current := u.password
		u.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		known := r.URL.Path == "/v2/" || r.URL.Path == "/v2/testing/busybox/manifests/latest"
		if !ok || pass != current || !known {
			w.WriteHeader(http.StatusUnauthorized) // unknown repositories look refused too
			return
		}
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(u.Close)
	return u
}

// rotateMountedPassword puts password into the proxy's mounted Secret, as
// the kubelet does after the Secret changes, and has the proxy read it.
func (tp *testProxy) rotateMountedPassword(t *testing.T, password string) {
	t.Helper()
	creds := tp.proxy.upstream.rotation.(*mountedCredentials)
	if err := os.WriteFile(filepath.Join(creds.dir, "password"), []byte(password), 0o600); err != nil {
		t.Fatal(err)
	}
	creds.refresh()
}

func (u *rotatingUpstream) logins(password string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.byPass[password]
}

// After a rotation, a client asking for repositories the upstream answers
// 401 cannot make the proxy log in with the replaced password at will: a
// few fallbacks, then none.
func TestTheReplacedPasswordIsTriedOnlyAFewTimes(t *testing.T) {
	up := newRotatingUpstream(t, "new-password")
	srv := newTestProxy(t, up.URL, noop.NewMeterProvider())
	// The Secret had the old password; now it has the new one, which the
	// upstream already takes.
	srv.rotateMountedPassword(t, "new-password")
	for range 20 {
		if code := srv.status(t, "GET", "/v2/testing/unknown/manifests/latest", goodToken); code != http.StatusBadGateway {
			t.Fatalf("an unknown repository the upstream refuses: %d, want 502", code)
		}
	}
	if n := up.logins(registryPassword(t)); n > fallbackBurst {
		t.Errorf("20 refused requests made %d logins with the replaced password, want at most %d", n, fallbackBurst)
	}
}

// While the upstream still takes only the replaced password (the Secret
// changed first, the registry has not yet), every pull is served with it:
// only refused fallbacks are bounded.
func TestARotationUnderWayServesEveryPull(t *testing.T) {
	up := newRotatingUpstream(t, registryPassword(t))
	srv := newTestProxy(t, up.URL, noop.NewMeterProvider())
	srv.rotateMountedPassword(t, "new-password")
	for i := range 20 {
		if code := srv.status(t, "GET", "/v2/testing/busybox/manifests/latest", goodToken); code != http.StatusOK {
			t.Fatalf("pull %d during the rotation: %d, want 200", i, code)
		}
	}
}

// The replaced credentials are offered only within the window after the
// change, and not once the new ones have worked.
func TestTheReplacedPasswordIsForgotten(t *testing.T) {
	dir := mountedSecret(t)
	m, err := loadMountedCredentials(dir, "registry.example.com")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	m.now = func() time.Time { return now }
	if m.before() != nil {
		t.Fatal("credentials that never changed offer a previous password")
	}
	rotate := func(password string) {
		if err := os.WriteFile(filepath.Join(dir, "password"), []byte(password), 0o600); err != nil {
			t.Fatal(err)
		}
		m.refresh()
	}
	rotate("second")
	if m.before() == nil {
		t.Fatal("just after a change, the previous password is not offered")
	}
	m.worked(m.generation())
	if m.before() != nil {
		t.Error("the previous password is offered after the new one worked")
	}
	rotate("third")
	now = now.Add(previousWindow)
	if m.before() != nil {
		t.Error("the previous password is offered after the window")
	}
}

// registryPassword is the password of the test Secret (mountedSecret).
func registryPassword(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(mountedSecret(t), "password"))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}
