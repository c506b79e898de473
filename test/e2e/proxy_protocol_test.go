package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/test/proxyproc"
	"github.com/oci-connector/oci-connector/test/registry"
)

// do sends one request to the proxy with a ServiceAccount token.
func (s *proxySetup) do(t *testing.T, method, path, token string, body []byte, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+s.proxy.Host+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", basicHeader(token))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp, out
}

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// The parts of the distribution API that go beyond a plain pull: ranges,
// chunked uploads with their Location, blob mounts, tag pagination with its
// Link, a multi-arch index, referrers and deletes, all through the proxy.
func TestProxyPassesTheDistributionAPIThrough(t *testing.T) {
	reg := registry.NewTokenAuth(t)
	s := setupProxy(t, reg, "proxy-protocol")

	// A blob uploaded in two chunks, following the Locations the proxy hands out.
	blob := bytes.Repeat([]byte("0123456789"), 1000)
	digest := sha256Digest(blob)
	resp, _ := s.do(t, "POST", "/v2/testing/chunked/blobs/uploads/", s.pusher, nil, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("starting an upload: %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/v2/testing/chunked/blobs/uploads/") {
		t.Fatalf("upload Location %q does not point at the proxy", loc)
	}
	for i, chunk := range [][]byte{blob[:4000], blob[4000:]} {
		start := i * 4000
		resp, _ = s.do(t, "PATCH", loc, s.pusher, chunk, map[string]string{
			"Content-Type":  "application/octet-stream",
			"Content-Range": fmt.Sprintf("%d-%d", start, start+len(chunk)-1),
		})
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("chunk %d: %d", i, resp.StatusCode)
		}
		loc = resp.Header.Get("Location")
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	resp, _ = s.do(t, "PUT", loc+sep+"digest="+digest, s.pusher, nil, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("finishing the chunked upload: %d", resp.StatusCode)
	}

	// HEAD and a Range read keep their headers and status.
	resp, _ = s.do(t, "HEAD", "/v2/testing/chunked/blobs/"+digest, s.puller, nil, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != fmt.Sprint(len(blob)) || resp.Header.Get("Docker-Content-Digest") != digest {
		t.Fatalf("HEAD: %d, length %q, digest %q", resp.StatusCode, resp.Header.Get("Content-Length"), resp.Header.Get("Docker-Content-Digest"))
	}
	resp, got := s.do(t, "GET", "/v2/testing/chunked/blobs/"+digest, s.puller, nil, map[string]string{"Range": "bytes=10-19"})
	if resp.StatusCode != http.StatusPartialContent || string(got) != "0123456789" {
		t.Fatalf("Range read: %d %q", resp.StatusCode, got)
	}

	// A mount from another repository in scope.
	resp, _ = s.do(t, "POST", "/v2/testing/mounted/blobs/uploads/?mount="+digest+"&from=testing/chunked", s.pusher, nil, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("blob mount: %d", resp.StatusCode)
	}

	// A multi-arch index, pushed and read back.
	idx, err := random.Index(1024, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	idxRef := s.ref(t, "testing/multiarch:v1")
	if err := remote.WriteIndex(idxRef, idx, remote.WithAuth(basicAuth(s.pusher))); err != nil {
		t.Fatalf("pushing an index: %v", err)
	}
	pulledIdx, err := remote.Index(idxRef, remote.WithAuth(basicAuth(s.puller)))
	if err != nil {
		t.Fatalf("pulling the index: %v", err)
	}
	wantIdx, _ := idx.Digest()
	if d, _ := pulledIdx.Digest(); d != wantIdx {
		t.Fatalf("index digest %s, want %s", d, wantIdx)
	}

	// Tag pagination: the Link points at the proxy, and following it works.
	for _, tag := range []string{"a", "b", "c"} {
		img, _ := random.Image(64, 1)
		if err := remote.Write(s.ref(t, "testing/paged:"+tag), img, remote.WithAuth(basicAuth(s.pusher))); err != nil {
			t.Fatal(err)
		}
	}
	resp, body := s.do(t, "GET", "/v2/testing/paged/tags/list?n=2", s.puller, nil, nil)
	link := resp.Header.Get("Link")
	if resp.StatusCode != 200 || !strings.HasPrefix(link, "</v2/testing/paged/tags/list?") {
		t.Fatalf("first page: %d, Link %q, body %s", resp.StatusCode, link, body)
	}
	next := link[1:strings.Index(link, ">")]
	resp, body = s.do(t, "GET", next, s.puller, nil, nil)
	var page struct{ Tags []string }
	if err := json.Unmarshal(body, &page); err != nil || resp.StatusCode != 200 || len(page.Tags) != 1 || page.Tags[0] != "c" {
		t.Fatalf("second page: %d %s", resp.StatusCode, body)
	}

	// Referrers: an artifact whose subject is the index, pushed through the
	// proxy, is found again through it. distribution v3 has no referrers
	// endpoint (it answers 404); the proxy serves the API from the tag
	// schema, and keeps the tag schema's index for the pushes it answers
	// OCI-Subject to (go-containerregistry then leaves the index to it).
	resp, body = s.do(t, "GET", "/v2/testing/multiarch/referrers/"+wantIdx.String(), s.puller, nil, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/vnd.oci.image.index.v1+json" || !strings.Contains(string(body), `"manifests":[]`) {
		t.Fatalf("referrers before any: %d %q %s, want an empty image index", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	artifact, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	idxDesc, err := remote.Head(idxRef, remote.WithAuth(basicAuth(s.puller)))
	if err != nil {
		t.Fatal(err)
	}
	withSubject := mutate.Subject(mutate.MediaType(artifact, types.OCIManifestSchema1), *idxDesc).(v1.Image)
	if err := remote.Write(s.ref(t, "testing/multiarch:sbom"), withSubject, remote.WithAuth(basicAuth(s.pusher))); err != nil {
		t.Fatalf("pushing a referrer: %v", err)
	}
	referrers, err := remote.Referrers(idxRef.Context().Digest(wantIdx.String()), remote.WithAuth(basicAuth(s.puller)))
	if err != nil {
		t.Fatalf("listing referrers: %v", err)
	}
	refManifest, err := referrers.IndexManifest()
	if err != nil || len(refManifest.Manifests) != 1 {
		t.Fatalf("referrers = %+v, %v; want the one artifact", refManifest, err)
	}
	// The same, read at the upstream directly, as a client that uses the
	// tag schema reads it.
	direct, err := remote.Referrers(mustUpstreamDigest(t, s.reg, "testing/multiarch", wantIdx.String()), remote.WithAuth(registry.RobotAuth()))
	if err != nil {
		t.Fatalf("listing referrers at the upstream: %v", err)
	}
	if m, err := direct.IndexManifest(); err != nil || len(m.Manifests) != 1 || m.Manifests[0].Digest != refManifest.Manifests[0].Digest {
		t.Fatalf("at the upstream, referrers = %+v, %v; want the one the proxy lists", m, err)
	}

	// Deletes are push.
	resp, _ = s.do(t, "DELETE", "/v2/testing/paged/manifests/"+mustDigest(t, s, "testing/paged:a"), s.pusher, nil, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
}

// mustUpstreamDigest names repo@digest at reg itself.
func mustUpstreamDigest(t *testing.T, reg *registry.Registry, repo, digest string) name.Digest {
	t.Helper()
	d, err := name.NewDigest(reg.Host+"/"+repo+"@"+digest, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustDigest(t *testing.T, s *proxySetup, repoAndTag string) string {
	t.Helper()
	desc, err := remote.Head(s.ref(t, repoAndTag), remote.WithAuth(basicAuth(s.puller)))
	if err != nil {
		t.Fatal(err)
	}
	return desc.Digest.String()
}

// When the upstream is down, clients get a 502 in OCI form, not a hang.
func TestProxyUpstreamUnreachable(t *testing.T) {
	reg := registry.NewHtpasswd(t)
	s := setupProxy(t, reg, "proxy-unreachable")
	// A second proxy for the same Connector pointed at a port nobody serves.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := &registry.Registry{URL: "http://" + l.Addr().String(), Host: l.Addr().String()}
	l.Close()
	s.proxy = startProxy(t, dead, s.ns, "harbor")

	resp, body := s.do(t, "GET", "/v2/testing/busybox/manifests/latest", s.puller, nil, nil)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "UNKNOWN") || !strings.Contains(string(body), "unreachable") {
		t.Fatalf("status %d body %s, want 502 with an OCI error", resp.StatusCode, body)
	}
}

// Rotating the robot password: once the Secret volume holds the new one, the
// proxy uses it within seconds, without a restart.
func TestProxyReloadsRotatedCredentials(t *testing.T) {
	reg := registry.NewHtpasswd(t)
	s := setupProxy(t, reg, "proxy-rotation")
	pull := func() int {
		resp, _ := s.do(t, "GET", "/v2/testing/busybox/manifests/latest", s.puller, nil, map[string]string{"Accept": "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"})
		return resp.StatusCode
	}
	secret := func(password string) {
		proxyproc.WriteSecretVolume(t, s.proxy.CredentialsDir, map[string]string{"username": registry.Username, "password": password})
	}
	if code := pull(); code != 200 {
		t.Fatalf("pull before rotation: %d", code)
	}

	// The Secret first, then the registry: the proxy reads the Secret at
	// once when the upstream refuses, and tries the password before it
	// while the registry still wants that one. No pull fails.
	secret("second-password")
	if code := pull(); code != 200 {
		t.Fatalf("pull with the new password in the Secret only: %d, want 200 with the one before", code)
	}
	reg.RotatePassword(t, "second-password")
	if code := pull(); code != 200 {
		t.Fatalf("pull after the registry took the new password: %d", code)
	}

	// The registry first: no credential the proxy knows works until the
	// Secret has the new one; then the next pull works, without waiting for
	// the proxy's periodic re-read.
	reg.RotatePassword(t, "third-password")
	if code := pull(); code != http.StatusBadGateway {
		t.Fatalf("pull with a password the registry no longer takes: %d, want 502", code)
	}
	secret("third-password")
	if code := pull(); code != 200 {
		t.Fatalf("pull once the Secret has the registry's password: %d", code)
	}
	assertNoPasswordInLog(t, s.proxy)
	raw, err := os.ReadFile(s.proxy.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"second-password", "third-password"} {
		if strings.Contains(string(raw), pw) {
			t.Errorf("the proxy's log holds a rotated password")
		}
	}
}

// Knative may talk to the proxy over h2c; so may clients that speak it.
func TestProxyServesH2C(t *testing.T) {
	reg := registry.NewHtpasswd(t)
	s := setupProxy(t, reg, "proxy-h2c")
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: protocols}}
	req, _ := http.NewRequest("GET", "http://"+s.proxy.Host+"/v2/testing/busybox/manifests/latest", nil)
	req.Header.Set("Authorization", basicHeader(s.puller))
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("h2c request: %v", err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || resp.Header.Get("Docker-Content-Digest") != reg.SeedDigest {
		t.Fatalf("h2c: %s %d digest %q", resp.Proto, resp.StatusCode, resp.Header.Get("Docker-Content-Digest"))
	}
}

// The expired-token refusal is about expiry: the same hand-signed token with a
// future expiry is accepted.
func TestSignedTokensAreAcceptedUntilTheyExpire(t *testing.T) {
	reg := registry.NewHtpasswd(t)
	s := setupProxy(t, reg, "proxy-signed")
	fresh := cluster.SignToken(t, s.ns, "puller", v1alpha1.ConnectorAudience(s.ns, "harbor"), time.Now().Add(time.Hour))
	resp, body := s.do(t, "GET", "/v2/testing/busybox/tags/list", fresh, nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("a fresh hand-signed token: %d %s", resp.StatusCode, body)
	}
}

// A Connector may opt in to tokens for the API server's audience.
func TestProxyAcceptsAPIServerTokensWhenTheConnectorOptsIn(t *testing.T) {
	reg := registry.NewHtpasswd(t)
	s := setupProxy(t, reg, "proxy-apiserver-audience", "--accept-api-server-tokens")
	token := cluster.Token(t, s.ns, "puller", "", time.Hour)
	resp, body := s.do(t, "GET", "/v2/testing/busybox/tags/list", token, nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("an API-server token with the opt-in: %d %s", resp.StatusCode, body)
	}
}

// An upstream with a private CA is trusted through ca.crt in the Secret.
func TestProxyTrustsTheCAInTheSecret(t *testing.T) {
	reg := registry.NewTokenAuth(t, registry.WithTLS())
	s := setupProxy(t, reg, "proxy-private-ca")
	resp, body := s.do(t, "GET", "/v2/testing/busybox/manifests/latest", s.puller, nil, map[string]string{"Accept": "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"})
	if resp.StatusCode != 200 || resp.Header.Get("Docker-Content-Digest") != reg.SeedDigest {
		t.Fatalf("pull from a private-CA upstream: %d %s", resp.StatusCode, body)
	}
}

// On SIGTERM the proxy stops taking connections but lets a transfer in
// flight finish, intact.
func TestProxyDrainsTransfersOnShutdown(t *testing.T) {
	reg := registry.NewHtpasswd(t, registry.WithFilesystem(t.TempDir()))
	s := setupProxy(t, reg, "proxy-drain")

	layer, err := random.Layer(32<<20, types.OCIUncompressedLayer)
	if err != nil {
		t.Fatal(err)
	}
	repo, _ := name.NewRepository(reg.Host+"/testing/big", name.Insecure)
	if err := remote.WriteLayer(repo, layer, remote.WithAuth(registry.RobotAuth())); err != nil {
		t.Fatal(err)
	}
	digest, _ := layer.Digest()

	req, _ := http.NewRequest("GET", "http://"+s.proxy.Host+"/v2/testing/big/blobs/"+digest.String(), nil)
	req.Header.Set("Authorization", basicHeader(s.puller))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	hash := sha256.New()
	if _, err := io.CopyN(hash, resp.Body, 1<<20); err != nil {
		t.Fatalf("reading the first MiB: %v", err)
	}
	if err := s.proxy.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Give the proxy time to close its listener before the rest is read.
	waitFor(t, "the proxy to stop accepting connections", func(context.Context) (bool, string) {
		c, err := net.Dial("tcp", s.proxy.Host)
		if err != nil {
			return true, ""
		}
		c.Close()
		return false, "still accepting"
	})
	if _, err := io.Copy(hash, resp.Body); err != nil {
		t.Fatalf("the transfer in flight broke off: %v", err)
	}
	if got := "sha256:" + hex.EncodeToString(hash.Sum(nil)); got != digest.String() {
		t.Fatalf("the drained blob has digest %s, want %s", got, digest)
	}
}
