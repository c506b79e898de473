package registry

import (
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/oci-connector/oci-connector/test/harness"
)

// Both variants must refuse anonymous reads and serve the seeded image to the
// robot account; otherwise every test built on them proves nothing.
func TestRegistriesAuthenticate(t *testing.T) {
	for _, tc := range []struct {
		name string
		new  func(harness.T, ...Option) *Registry
	}{{"htpasswd", NewHtpasswd}, {"token", NewTokenAuth}} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.new(t)
			ref, err := name.ParseReference(r.Host+"/"+SeedRepository+":"+SeedTag, name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := remote.Head(ref); err == nil {
				t.Fatal("anonymous HEAD of the seed image succeeded; the registry is not protected")
			}
			wrong := authn.FromConfig(authn.AuthConfig{Username: Username, Password: "wrong"})
			if _, err := remote.Head(ref, remote.WithAuth(wrong)); err == nil {
				t.Fatal("HEAD with a wrong password succeeded")
			}
			desc, err := remote.Head(ref, remote.WithAuth(RobotAuth()))
			if err != nil {
				t.Fatalf("HEAD with the right password: %v", err)
			}
			if desc.Digest.String() != r.SeedDigest {
				t.Fatalf("digest = %s, want %s", desc.Digest, r.SeedDigest)
			}
		})
	}
}

func TestTLSRegistryServesOnlyTrustingClients(t *testing.T) {
	r := NewHtpasswd(t, WithTLS())
	if len(r.CAPEM) == 0 {
		t.Fatal("no CA PEM for the TLS registry")
	}
	if _, err := http.Get(r.URL + "/v2/"); err == nil {
		t.Fatal("a client without the CA reached the TLS registry")
	}
	resp, err := r.Client().Get(r.URL + "/v2/")
	if err != nil {
		t.Fatalf("trusting client: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /v2/ = %d, want 401", resp.StatusCode)
	}
}
