package registry

import (
	"io"
	"net/http"
	"strings"
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

// With redirecting storage, a blob GET is a 307 to the storage server,
// which serves the blob under the capability and refuses without it.
func TestRedirectingStorage(t *testing.T) {
	r := NewHtpasswd(t, WithRedirectingStorage())
	ref, err := name.ParseReference(r.Host+"/"+SeedRepository+":"+SeedTag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref, remote.WithAuth(RobotAuth()))
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) == 0 {
		t.Fatalf("layers %v: %v", layers, err)
	}
	digest, _ := layers[0].Digest()
	req, _ := http.NewRequest("GET", r.URL+"/v2/"+SeedRepository+"/blobs/"+digest.String(), nil)
	req.SetBasicAuth(Username, Password)
	resp, err := (&http.Transport{}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusTemporaryRedirect || !strings.HasPrefix(loc, r.StorageURL+"/") {
		t.Fatalf("blob GET: %d to %q, want a 307 to %s", resp.StatusCode, loc, r.StorageURL)
	}
	got, err := http.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, got.Body)
	got.Body.Close()
	if size, _ := layers[0].Size(); got.StatusCode != http.StatusOK || n != size || r.StorageBytes.Load() != size {
		t.Errorf("storage answered %d with %d bytes (counted %d), want the layer's %d", got.StatusCode, n, r.StorageBytes.Load(), size)
	}
	unsigned := strings.Replace(loc, r.StorageURL, strings.TrimSuffix(r.StorageURL, storageCapability), 1)
	resp, err = http.Get(unsigned)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("an unsigned storage URL: %d, want 403", resp.StatusCode)
	}
}
