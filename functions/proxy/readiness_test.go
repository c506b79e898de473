package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/oci-connector/oci-connector/pkg/apis/connector"
)

// The readiness probe says not ready only while the upstream refuses every
// credential the proxy holds; a rotation under way (the previous password
// still taken) and an upstream that is down or failing leave it ready.
func TestReadinessFollowsTheUpstreamsAnswerToTheCredentials(t *testing.T) {
	probe := func(t *testing.T, srv *testProxy) int {
		t.Helper()
		resp, err := http.Get(srv.URL + connector.ProxyReadinessPath)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	t.Run("the upstream takes the password: ready", func(t *testing.T) {
		up := newRotatingUpstream(t, registryPassword(t))
		if code := probe(t, newTestProxy(t, up.URL, noop.NewMeterProvider())); code != http.StatusOK {
			t.Errorf("probe: %d, want 200", code)
		}
	})
	t.Run("the upstream refuses the password: not ready", func(t *testing.T) {
		up := newRotatingUpstream(t, "another-password")
		if code := probe(t, newTestProxy(t, up.URL, noop.NewMeterProvider())); code != http.StatusServiceUnavailable {
			t.Errorf("probe: %d, want 503", code)
		}
	})
	t.Run("the Secret changed first, the upstream takes the previous password: ready", func(t *testing.T) {
		up := newRotatingUpstream(t, registryPassword(t))
		srv := newTestProxy(t, up.URL, noop.NewMeterProvider())
		srv.rotateMountedPassword(t, "new-password")
		if code := probe(t, srv); code != http.StatusOK {
			t.Errorf("probe: %d, want 200", code)
		}
	})
	t.Run("the upstream is down: ready", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		if code := probe(t, newTestProxy(t, "http://"+addr, noop.NewMeterProvider())); code != http.StatusOK {
			t.Errorf("probe: %d, want 200", code)
		}
	})
	t.Run("the upstream fails: ready", func(t *testing.T) {
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		t.Cleanup(up.Close)
		if code := probe(t, newTestProxy(t, up.URL, noop.NewMeterProvider())); code != http.StatusOK {
			t.Errorf("probe: %d, want 200", code)
		}
	})
}
