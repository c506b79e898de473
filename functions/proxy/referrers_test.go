package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/test/registry"
)

// rawManifest is a manifest pushed as it is written.
type rawManifest struct {
	body      []byte
	mediaType types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.body, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mediaType, nil }

// referrersOf GETs the referrers of subject in repo through the proxy.
func referrersOf(t *testing.T, srv *testProxy, repo, subject, query string) (*http.Response, []byte) {
	t.Helper()
	u := srv.URL + "/v2/" + repo + "/referrers/" + subject
	if query != "" {
		u += "?" + query
	}
	req, _ := http.NewRequest("GET", u, nil)
	req.SetBasicAuth("u", goodToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, body
}

// listed is an index of referrers as a client reads it.
type listed struct {
	SchemaVersion int    `json:"schemaVersion"`
	MediaType     string `json:"mediaType"`
	Manifests     []struct {
		Digest       string `json:"digest"`
		ArtifactType string `json:"artifactType"`
	} `json:"manifests"`
}

// Against distribution, which lacks the referrers API: the proxy serves the
// index of the referrers tag schema, filtered by artifactType on request,
// and an empty index when no tag exists.
func TestReferrersFromTheTagSchema(t *testing.T) {
	reg := registry.NewHtpasswd(t)
	srv := newTestProxy(t, reg.URL, noop.NewMeterProvider())
	auth := remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: registry.Username, Password: registry.Password}))
	host := strings.TrimPrefix(reg.URL, "http://")
	repo := "testing/signed"
	push := func(tag string) v1.Hash {
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		ref, _ := name.ParseReference(host+"/"+repo+":"+tag, name.Insecure)
		if err := remote.Write(ref, img, auth); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		return d
	}
	subject := push("app")
	signature, sbom := push("sig"), push("sbom")

	resp, body := referrersOf(t, srv, repo, subject.String(), "")
	var got listed
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != mediaTypeIndex || json.Unmarshal(body, &got) != nil || len(got.Manifests) != 0 || got.MediaType != mediaTypeIndex {
		t.Fatalf("no referrers yet: %d %s %s, want 200 and an empty index", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}

	// What a 1.1 client writes to a registry without the API.
	index := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + signature.String() + `","size":1,"artifactType":"application/vnd.dev.cosign.simplesigning.v1+json"},` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + sbom.String() + `","size":1,"artifactType":"application/spdx+json"}]}`
	tagRef, _ := name.ParseReference(host+"/"+repo+":"+strings.Replace(subject.String(), ":", "-", 1), name.Insecure)
	if err := remote.Put(tagRef, rawManifest{[]byte(index), types.OCIImageIndex}, auth); err != nil {
		t.Fatal(err)
	}
	resp, body = referrersOf(t, srv, repo, subject.String(), "")
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &got) != nil || len(got.Manifests) != 2 || resp.Header.Get(filtersAppliedHeader) != "" {
		t.Fatalf("the tag schema's referrers: %d %s", resp.StatusCode, body)
	}
	resp, body = referrersOf(t, srv, repo, subject.String(), "artifactType=application%2Fspdx%2Bjson")
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &got) != nil || len(got.Manifests) != 1 ||
		got.Manifests[0].Digest != sbom.String() || resp.Header.Get(filtersAppliedHeader) != "artifactType" {
		t.Fatalf("filtered by artifactType: %d %v %s", resp.StatusCode, resp.Header, body)
	}

	// A tag that holds something else is reported, not passed off as an index.
	if err := remote.Tag(mustTag(t, host+"/"+repo+":"+strings.Replace(signature.String(), ":", "-", 1)), mustImage(t, host+"/"+repo+":app", auth), auth); err != nil {
		t.Fatal(err)
	}
	resp, body = referrersOf(t, srv, repo, signature.String(), "")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "not an image index") {
		t.Errorf("a referrers tag holding an image: %d %s, want 502 naming it", resp.StatusCode, body)
	}

	// An invalid repository is refused before anything goes upstream.
	if resp, _ := referrersOf(t, srv, "Bad/Name", subject.String(), ""); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("an invalid repository: %d", resp.StatusCode)
	}
}

func mustTag(t *testing.T, s string) name.Tag {
	t.Helper()
	tag, err := name.NewTag(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

func mustImage(t *testing.T, s string, auth remote.Option) remote.Taggable {
	t.Helper()
	ref, _ := name.ParseReference(s, name.Insecure)
	desc, err := remote.Get(ref, auth)
	if err != nil {
		t.Fatal(err)
	}
	return desc
}

// An upstream that implements the API answers for itself, untouched.
func TestReferrersOfAnUpstreamWithTheAPIPassThrough(t *testing.T) {
	const answer = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"digest":"sha256:from-upstream"}]}`
	var asked []string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.RequestURI())
		if strings.Contains(r.URL.Path, "/referrers/") {
			w.Header().Set("Content-Type", mediaTypeIndex)
			w.Header().Set(filtersAppliedHeader, "artifactType")
			_, _ = io.WriteString(w, answer)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer upstream.Close()
	srv := newTestProxy(t, upstream.URL, noop.NewMeterProvider())
	subject := "sha256:" + strings.Repeat("a", 64)
	resp, body := referrersOf(t, srv, "testing/app", subject, "artifactType=application%2Fspdx%2Bjson")
	if resp.StatusCode != http.StatusOK || string(body) != answer || resp.Header.Get(filtersAppliedHeader) != "artifactType" {
		t.Errorf("%d %v %s, want the upstream's answer untouched", resp.StatusCode, resp.Header, body)
	}
	for _, a := range asked {
		if strings.Contains(a, "/manifests/") {
			t.Errorf("the tag schema was read although the upstream answered: %s", a)
		}
	}
}

// referrerSetup is the real registry, a subject image in it, and the empty
// blob a referrer's config and layer name.
type referrerSetup struct {
	reg     *registry.Registry
	proxy   *testProxy
	repo    string
	subject v1.Hash
	empty   v1.Hash
}

func newReferrerSetup(t *testing.T, upstream func(*registry.Registry) string) *referrerSetup {
	t.Helper()
	reg := registry.NewHtpasswd(t)
	s := &referrerSetup{reg: reg, repo: "testing/signed"}
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(reg.Host+"/"+s.repo+":app", name.Insecure)
	if err := remote.Write(ref, img, remote.WithAuth(registry.RobotAuth())); err != nil {
		t.Fatal(err)
	}
	s.subject, _ = img.Digest()
	empty := static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json")
	s.empty, _ = empty.Digest()
	if err := remote.WriteLayer(ref.Context(), empty, remote.WithAuth(registry.RobotAuth())); err != nil {
		t.Fatal(err)
	}
	s.proxy = newTestProxy(t, upstream(reg), noop.NewMeterProvider())
	return s
}

// referrer is a manifest of artifactType that refers to the subject.
func (s *referrerSetup) referrer(artifactType, note string) []byte {
	return []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"` + artifactType + `",` +
		`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"` + s.empty.String() + `","size":2},` +
		`"layers":[{"mediaType":"application/vnd.oci.empty.v1+json","digest":"` + s.empty.String() + `","size":2}],` +
		`"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + s.subject.String() + `","size":1},` +
		`"annotations":{"note":"` + note + `"}}`)
}

// put PUTs a manifest through the proxy by its digest, as token.
func (s *referrerSetup) put(t *testing.T, token string, body []byte) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, s.proxy.URL+"/v2/"+s.repo+"/manifests/"+blobDigest(body), bytes.NewReader(body))
	req.SetBasicAuth("u", token)
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// upstreamIndex reads the subject's tag-schema index at the upstream
// directly: nil when there is no tag.
func (s *referrerSetup) upstreamIndex(t *testing.T) *listed {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.reg.URL+"/v2/"+s.repo+"/manifests/"+strings.Replace(s.subject.String(), ":", "-", 1), nil)
	req.SetBasicAuth(registry.Username, registry.Password)
	req.Header.Set("Accept", mediaTypeIndex)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	var idx listed
	if err := json.NewDecoder(resp.Body).Decode(&idx); err != nil {
		t.Fatalf("the upstream's index: %d %v", resp.StatusCode, err)
	}
	return &idx
}

// A referrer pushed through the proxy to an upstream without the API is in
// its subject's index at the upstream, written as a 1.1 client writes it,
// before the proxy answers OCI-Subject; the API lists it; deleting it takes
// it out; a pull-only client changes nothing.
func TestAReferrerPushedThroughTheProxyIsIndexed(t *testing.T) {
	s := newReferrerSetup(t, func(r *registry.Registry) string { return r.URL })
	sbom := s.referrer("application/spdx+json", "sbom")
	if resp := s.put(t, goodToken, sbom); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a pull-only push: %d", resp.StatusCode)
	}
	if idx := s.upstreamIndex(t); idx != nil {
		t.Fatalf("a refused push changed the index: %+v", idx)
	}
	resp := s.put(t, pushOnlyToken, sbom)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get(subjectHeader) != s.subject.String() {
		t.Fatalf("push: %d, OCI-Subject %q", resp.StatusCode, resp.Header.Get(subjectHeader))
	}
	idx := s.upstreamIndex(t)
	if idx == nil || len(idx.Manifests) != 1 || idx.Manifests[0].Digest != blobDigest(sbom) || idx.Manifests[0].ArtifactType != "application/spdx+json" || idx.MediaType != mediaTypeIndex {
		t.Fatalf("the upstream's index after the push: %+v", idx)
	}
	// The descriptor a 1.1 client writes: media type, digest, size, artifactType, annotations.
	req, _ := http.NewRequest(http.MethodGet, s.reg.URL+"/v2/"+s.repo+"/manifests/"+strings.Replace(s.subject.String(), ":", "-", 1), nil)
	req.SetBasicAuth(registry.Username, registry.Password)
	req.Header.Set("Accept", mediaTypeIndex)
	r2, _ := http.DefaultClient.Do(req)
	body, _ := io.ReadAll(r2.Body)
	r2.Body.Close()
	if !strings.Contains(string(body), `"size":`+strconv.Itoa(len(sbom))) || !strings.Contains(string(body), `"annotations":{"note":"sbom"}`) ||
		!strings.Contains(string(body), `"mediaType":"application/vnd.oci.image.manifest.v1+json"`) {
		t.Errorf("the descriptor is not what a client writes: %s", body)
	}
	pushedEvents := 0
	for _, e := range s.proxy.events.take() {
		var d events.ImageData
		if e.Type() == events.ImagePushed && e.DataAs(&d) == nil && d.Subject == s.subject.String() {
			pushedEvents++
		}
	}
	if pushedEvents != 1 {
		t.Errorf("%d image.pushed events name the subject, want 1", pushedEvents)
	}

	lresp, lbody := referrersOf(t, s.proxy, s.repo, s.subject.String(), "")
	var got listed
	if lresp.StatusCode != 200 || json.Unmarshal(lbody, &got) != nil || len(got.Manifests) != 1 {
		t.Fatalf("the API after the push: %d %s", lresp.StatusCode, lbody)
	}

	req, _ = http.NewRequest(http.MethodDelete, s.proxy.URL+"/v2/"+s.repo+"/manifests/"+blobDigest(sbom), nil)
	req.SetBasicAuth("u", pushOnlyToken)
	dresp, err := http.DefaultClient.Do(req)
	if err != nil || dresp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete: %v %v", err, dresp)
	}
	if idx := s.upstreamIndex(t); idx == nil || len(idx.Manifests) != 0 {
		t.Fatalf("the index after the delete: %+v", idx)
	}
}

// Concurrent referrers of one subject through one proxy all end up in the
// index.
func TestConcurrentReferrersAreAllIndexed(t *testing.T) {
	s := newReferrerSetup(t, func(r *registry.Registry) string { return r.URL })
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			if resp := s.put(t, pushOnlyToken, s.referrer("application/spdx+json", strconv.Itoa(i))); resp.StatusCode != http.StatusCreated {
				t.Errorf("push %d: %d", i, resp.StatusCode)
			}
		})
	}
	wg.Wait()
	if idx := s.upstreamIndex(t); idx == nil || len(idx.Manifests) != 10 {
		t.Fatalf("the index has %v, want 10 referrers", idx)
	}
}

// A tag of the schema that holds something else is never written over:
// the push is stored, the client hears why the index was not updated and
// gets no OCI-Subject, so it may keep the index itself.
func TestACorruptIndexIsNotOverwritten(t *testing.T) {
	s := newReferrerSetup(t, func(r *registry.Registry) string { return r.URL })
	host := s.reg.Host
	auth := remote.WithAuth(registry.RobotAuth())
	if err := remote.Tag(mustTag(t, host+"/"+s.repo+":"+strings.Replace(s.subject.String(), ":", "-", 1)), mustImage(t, host+"/"+s.repo+":app", auth), auth); err != nil {
		t.Fatal(err)
	}
	resp := s.put(t, pushOnlyToken, s.referrer("application/spdx+json", "x"))
	if resp.StatusCode != http.StatusCreated || resp.Header.Get(subjectHeader) != "" || !strings.Contains(resp.Header.Get("Warning"), "not an image index") {
		t.Fatalf("push onto a corrupt index: %d, OCI-Subject %q, Warning %q", resp.StatusCode, resp.Header.Get(subjectHeader), resp.Header.Get("Warning"))
	}
	d, err := remote.Head(mustTag(t, host+"/"+s.repo+":"+strings.Replace(s.subject.String(), ":", "-", 1)), auth)
	if err != nil || d.Digest != s.subject {
		t.Errorf("the corrupt tag was changed: %v %v", d, err)
	}
}

// An upstream that keeps referrers itself (it answers OCI-Subject) is left
// to: the proxy writes no tag.
func TestAnUpstreamThatKeepsReferrersIsLeftToIt(t *testing.T) {
	var tagWrites atomic.Int32
	s := newReferrerSetup(t, func(reg *registry.Registry) string {
		target, _ := url.Parse(reg.URL)
		rp := httputil.NewSingleHostReverseProxy(target)
		front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/sha256-") {
				tagWrites.Add(1)
			}
			if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
				rec := httptest.NewRecorder()
				rp.ServeHTTP(rec, r)
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.Header().Set(subjectHeader, "sha256:"+strings.Repeat("0", 64))
				w.WriteHeader(rec.Code)
				_, _ = w.Write(rec.Body.Bytes())
				return
			}
			rp.ServeHTTP(w, r)
		}))
		t.Cleanup(front.Close)
		return front.URL
	})
	if resp := s.put(t, pushOnlyToken, s.referrer("application/spdx+json", "x")); resp.StatusCode != http.StatusCreated {
		t.Fatalf("push: %d", resp.StatusCode)
	}
	if n := tagWrites.Load(); n != 0 {
		t.Errorf("the proxy wrote the tag schema %d times for an upstream that keeps referrers", n)
	}
}
