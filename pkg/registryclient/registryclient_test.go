package registryclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
)

// An https address never falls back to plain HTTP, though
// go-containerregistry would for a loopback or private address: the
// credentials would travel in the clear.
func TestHTTPSAddressNeverFallsBackToPlainHTTP(t *testing.T) {
	var plainRequests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plainRequests.Add(1)
		w.Header().Set("WWW-Authenticate", `Basic realm="r"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()

	for _, tc := range []struct {
		address   string
		wantError bool
	}{
		{strings.Replace(srv.URL, "http://", "https://", 1), true},
		{srv.URL, false}, // an http address asks for plain HTTP
	} {
		base, reg, err := ParseAddress(tc.address)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := NewTransport(nil, false)
		if err != nil {
			t.Fatal(err)
		}
		before := plainRequests.Load()
		_, err = Authenticate(context.Background(), base, reg, &authn.Basic{Username: "u", Password: "p"}, plain, nil)
		if tc.wantError {
			if err == nil || plainRequests.Load() != before {
				t.Errorf("%s: err %v after %d plain HTTP requests, want an error and none", tc.address, err, plainRequests.Load()-before)
			}
		} else if err != nil || plainRequests.Load() == before {
			t.Errorf("%s: err %v after %d requests, want the ping over HTTP", tc.address, err, plainRequests.Load()-before)
		}
	}
}

func TestParseAddressRefusesWhatIsNoRegistryURL(t *testing.T) {
	for _, address := range []string{"harbor.example.com", "ftp://harbor.example.com", "https://", "://x"} {
		if _, _, err := ParseAddress(address); err == nil {
			t.Errorf("ParseAddress(%q) succeeded", address)
		}
	}
}

func TestNewTransportRefusesABundleWithoutCertificates(t *testing.T) {
	if _, err := NewTransport([]byte("not a certificate"), false); err != ErrNoCertificate {
		t.Errorf("NewTransport = %v, want ErrNoCertificate", err)
	}
}
