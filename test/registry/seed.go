package registry

import (
	"net/http"

	"github.com/oci-connector/oci-connector/test/harness"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// seed pushes a small random image as SeedRepository:SeedTag and returns its
// manifest digest.
func seed(t harness.T, r *Registry) string {
	t.Helper()
	img, err := random.Image(2048, 2)
	if err != nil {
		t.Fatalf("making the seed image: %v", err)
	}
	var nameOpts []name.Option
	if r.server.TLS == nil {
		nameOpts = append(nameOpts, name.Insecure)
	}
	ref, err := name.ParseReference(r.Host+"/"+SeedRepository+":"+SeedTag, nameOpts...)
	if err != nil {
		t.Fatalf("parsing the seed reference: %v", err)
	}
	transport := http.DefaultTransport
	if r.server.TLS != nil {
		transport = r.server.Client().Transport
	}
	if err := remote.Write(ref, img, remote.WithAuth(RobotAuth()), remote.WithTransport(transport)); err != nil {
		t.Fatalf("pushing the seed image to %s: %v", ref, err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatalf("digest of the seed image: %v", err)
	}
	return digest.String()
}
