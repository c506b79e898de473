package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"go.opentelemetry.io/otel/metric/noop"

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

type referrersIndex struct {
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
	var got referrersIndex
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
