package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	orasremote "oras.land/oras-go/v2/registry/remote"
	orasauth "oras.land/oras-go/v2/registry/remote/auth"

	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/proxyproc"
	"github.com/oci-connector/oci-connector/test/registry"
)

// regctlConfig writes a regctl configuration logging in to each host as
// user:pass over plain HTTP, and returns the environment that uses it.
func regctlConfig(t *testing.T, logins map[string][2]string) []string {
	t.Helper()
	home := t.TempDir()
	hosts := map[string]any{}
	for host, login := range logins {
		hosts[host] = map[string]any{"tls": "disabled", "user": login[0], "pass": login[1]}
	}
	raw, _ := json.Marshal(map[string]any{"hosts": hosts})
	if err := os.MkdirAll(filepath.Join(home, ".regctl"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".regctl", "config.json"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"HOME=" + home}
}

// pushSubject puts a small image upstream directly and returns its digest.
func pushSubject(t *testing.T, reg *registry.Registry, repoAndTag string) v1.Hash {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(reg.Host+"/"+repoAndTag, name.Insecure)
	if err := remote.Write(ref, img, remote.WithAuth(registry.RobotAuth())); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return d
}

// Against distribution, which lacks the referrers API: regctl and an
// oras-go client push artifacts with a subject through the proxy and list
// them through it, filtered by artifact type; regctl reading the upstream
// directly, through the tag schema, sees the same referrers.
func TestReferrersWithRegctlAndOras(t *testing.T) {
	regctl := harness.Bin(t, "regctl")
	reg := registry.NewHtpasswd(t)
	s := setupProxy(t, reg, "referrers")
	subject := pushSubject(t, reg, "testing/app:v1")
	viaProxy := s.proxy.Host + "/testing/app:v1"
	env := regctlConfig(t, map[string][2]string{s.proxy.Host: {"u", s.pusher}, reg.Host: {registry.Username, registry.Password}})

	sbom := filepath.Join(t.TempDir(), "sbom.json")
	if err := os.WriteFile(sbom, []byte(`{"spdxVersion":"SPDX-2.3"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	runTool(t, env, regctl, "artifact", "put", "--artifact-type", "application/spdx+json", "-f", sbom, "--subject", viaProxy)

	// oras-go, as notation and the oras CLI use it.
	ctx := context.Background()
	repo, err := orasremote.NewRepository(s.proxy.Host + "/testing/app")
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	repo.Client = &orasauth.Client{Credential: orasauth.StaticCredential(s.proxy.Host, orasauth.Credential{Username: "u", Password: s.pusher})}
	subjectDesc, err := repo.Resolve(ctx, subject.String())
	if err != nil {
		t.Fatalf("oras resolving the subject: %v", err)
	}
	layer, err := oras.PushBytes(ctx, repo, ocispec.MediaTypeImageLayer, []byte("signature bytes"))
	if err != nil {
		t.Fatalf("oras pushing a blob: %v", err)
	}
	signature, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "application/vnd.example.signature",
		oras.PackManifestOptions{Layers: []ocispec.Descriptor{layer}, Subject: &subjectDesc})
	if err != nil {
		t.Fatalf("oras pushing a referrer: %v", err)
	}

	// Listed through the proxy, by both clients, whole and filtered.
	all := runTool(t, env, regctl, "artifact", "list", viaProxy, "--format", "{{jsonPretty .Manifest}}")
	if !strings.Contains(all, "application/spdx+json") || !strings.Contains(all, signature.Digest.String()) {
		t.Fatalf("regctl through the proxy lists:\n%s", all)
	}
	sboms := runTool(t, env, regctl, "artifact", "list", viaProxy, "--filter-artifact-type", "application/spdx+json", "--format", "{{jsonPretty .Manifest}}")
	if !strings.Contains(sboms, "application/spdx+json") || strings.Contains(sboms, signature.Digest.String()) {
		t.Fatalf("regctl through the proxy, filtered:\n%s", sboms)
	}
	puller, err := orasremote.NewRepository(s.proxy.Host + "/testing/app")
	if err != nil {
		t.Fatal(err)
	}
	puller.PlainHTTP = true
	puller.Client = &orasauth.Client{Credential: orasauth.StaticCredential(s.proxy.Host, orasauth.Credential{Username: "u", Password: s.puller})}
	var found []ocispec.Descriptor
	if err := puller.Referrers(ctx, subjectDesc, "application/vnd.example.signature", func(rs []ocispec.Descriptor) error {
		found = append(found, rs...)
		return nil
	}); err != nil {
		t.Fatalf("oras listing referrers through the proxy: %v", err)
	}
	if len(found) != 1 || found[0].Digest != signature.Digest {
		t.Fatalf("oras through the proxy, filtered: %+v", found)
	}

	// At the upstream directly, through the tag schema.
	direct := runTool(t, env, regctl, "artifact", "list", reg.Host+"/testing/app:v1", "--format", "{{jsonPretty .Manifest}}")
	if !strings.Contains(direct, "application/spdx+json") || !strings.Contains(direct, signature.Digest.String()) {
		t.Fatalf("regctl at the upstream directly lists:\n%s", direct)
	}
	assertNoPasswordInLog(t, s.proxy)
}

// Referrers of one subject pushed at once through two proxy processes of
// one Connector (two replicas) all end up in the index.
func TestConcurrentReferrersThroughTwoReplicas(t *testing.T) {
	reg := registry.NewHtpasswd(t)
	s := setupProxy(t, reg, "referrers-replicas")
	second := startProxy(t, reg, "referrers-replicas", "harbor")
	subject := pushSubject(t, reg, "testing/app:v1")
	empty := static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json")
	emptyDigest, _ := empty.Digest()
	ref, _ := name.ParseReference(reg.Host+"/testing/app:v1", name.Insecure)
	if err := remote.WriteLayer(ref.Context(), empty, remote.WithAuth(registry.RobotAuth())); err != nil {
		t.Fatal(err)
	}
	const each = 8
	var wg sync.WaitGroup
	for _, p := range []*proxyproc.Proc{s.proxy, second} {
		for i := range each {
			wg.Go(func() {
				body := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example.n",`+
					`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2}],`+
					`"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":1},"annotations":{"n":"%s-%d"}}`,
					emptyDigest, emptyDigest, subject, p.Host, i))
				d, _, _ := v1.SHA256(bytes.NewReader(body))
				req, _ := http.NewRequest(http.MethodPut, "http://"+p.Host+"/v2/testing/app/manifests/"+d.String(), bytes.NewReader(body))
				req.Header.Set("Authorization", basicHeader(s.pusher))
				req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated || resp.Header.Get("OCI-Subject") != subject.String() {
					t.Errorf("push through %s: %d, OCI-Subject %q", p.Host, resp.StatusCode, resp.Header.Get("OCI-Subject"))
				}
			})
		}
	}
	wg.Wait()
	idx, err := remote.Referrers(mustUpstreamDigest(t, reg, "testing/app", subject.String()), remote.WithAuth(registry.RobotAuth()))
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil || len(m.Manifests) != 2*each {
		t.Fatalf("the index holds %d referrers (%v), want %d", len(m.Manifests), err, 2*each)
	}
}

// A pull-only client cannot push a referrer, nor so change the index; a
// repository out of the Connector's scope has no referrers to list.
func TestReferrersRefusals(t *testing.T) {
	reg := registry.NewHtpasswd(t)
	s := setupProxy(t, reg, "referrers-refusals", "--repository", "testing/*")
	subject := pushSubject(t, reg, "testing/app:v1")
	pushSubject(t, reg, "other/app:v1")
	body := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/spdx+json",` +
		`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[],` +
		`"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + subject.String() + `","size":1}}`)
	d, _, _ := v1.SHA256(bytes.NewReader(body))
	resp, _ := s.do(t, "PUT", "/v2/testing/app/manifests/"+d.String(), s.puller, body, map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a pull-only push of a referrer: %d", resp.StatusCode)
	}
	idx, err := remote.Referrers(mustUpstreamDigest(t, reg, "testing/app", subject.String()), remote.WithAuth(registry.RobotAuth()))
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := idx.IndexManifest(); len(m.Manifests) != 0 {
		t.Fatalf("a refused push changed the index: %+v", m)
	}
	if resp, _ := s.do(t, "GET", "/v2/other/app/referrers/"+subject.String(), s.puller, nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("referrers out of scope: %d", resp.StatusCode)
	}
	if resp, _ := s.do(t, "GET", "/v2/testing/app/referrers/"+subject.String(), s.nobody, nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("referrers without pull: %d", resp.StatusCode)
	}
}
