package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// The OCI 1.1 referrers API for every upstream (distribution v3, among
// others, lacks it and answers 404).
//
// Reading: a client's GET of /v2/<name>/referrers/<digest> gets the
// upstream's own answer when it is an image index; otherwise the index the
// referrers tag schema keeps at the tag <alg>-<hex> of the subject digest,
// filtered by artifactType as the API is. An absent tag is an empty index.
//
// Writing: answering the API tells 1.1 clients that the registry keeps
// the list, so they stop updating the tag schema themselves. So when a
// manifest with a subject is pushed and the upstream does not answer
// OCI-Subject (it does not keep the list), the proxy updates the tag
// schema's index as a client would, and only then answers OCI-Subject
// (referrersindex.go). Deleting such a manifest takes it out again.
const (
	mediaTypeIndex = "application/vnd.oci.image.index.v1+json"
	// filtersAppliedHeader says which filters the answer applied.
	filtersAppliedHeader = "OCI-Filters-Applied"
	// subjectHeader is how a registry says it processed a subject.
	subjectHeader = "OCI-Subject"
)

// referrers answers a referrers GET (see above).
func (u *upstream) referrers(w http.ResponseWriter, r *http.Request, a admission) {
	ctx := r.Context()
	resp, err := u.call(ctx, a, http.MethodGet, r.URL.Path, a.query, http.Header{"Accept": {mediaTypeIndex}}, nil)
	if err != nil {
		u.failed(w, err)
		return
	}
	if resp.StatusCode == http.StatusOK && isIndex(resp.Header.Get("Content-Type")) {
		defer resp.Body.Close()
		u.respond(w, r, resp, nil)
		return
	}
	if resp.StatusCode != http.StatusNotFound && resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		u.respond(w, r, resp, nil) // a refusal or an outage is the upstream's to tell
		return
	}
	resp.Body.Close()

	idx, _, err := u.readReferrersTag(ctx, a, a.route.name, a.route.reference)
	if err != nil {
		u.indexFailed(w, r, err)
		return
	}
	manifests := idx.Manifests
	query, _ := url.ParseQuery(a.query)
	if artifactType := query.Get("artifactType"); artifactType != "" {
		manifests = withArtifactType(manifests, artifactType)
		w.Header().Set(filtersAppliedHeader, "artifactType")
	}
	body, err := json.Marshal(referrersIndex{SchemaVersion: 2, MediaType: mediaTypeIndex, Manifests: manifests})
	if err != nil {
		u.failed(w, err)
		return
	}
	w.Header().Set("Content-Type", mediaTypeIndex)
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	_, _ = w.Write(body)
}

// call sends one request of the proxy's own upstream, for the admitted
// request's repository and with its scopes: header and body are all it
// carries.
func (u *upstream) call(ctx context.Context, a admission, method, path, rawQuery string, header http.Header, body []byte) (*http.Response, error) {
	target := *u.base
	target.Path, target.RawPath, target.RawQuery = path, "", rawQuery
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target.String(), rd)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", "oci-connector-proxy")
	resp, _, err := u.send(ctx, req, a.scopes, method == http.MethodPut)
	return resp, err
}

// indexFailed answers a request that needed the tag schema's index and
// could not have it.
func (u *upstream) indexFailed(w http.ResponseWriter, r *http.Request, err error) {
	var corrupt *corruptIndexError
	if errors.As(err, &corrupt) {
		u.logger.Warnw("The referrers tag schema's index is not an image index", "error", err)
		writeError(w, http.StatusBadGateway, codeManifestInvalid, err.Error())
		return
	}
	var answered *upstreamAnswer
	if errors.As(err, &answered) {
		defer answered.resp.Body.Close()
		u.respond(w, r, answered.resp, nil)
		return
	}
	u.failed(w, err)
}

func isIndex(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.TrimSpace(mt) == mediaTypeIndex
}

// withArtifactType keeps the descriptors of artifactType.
func withArtifactType(manifests []json.RawMessage, artifactType string) []json.RawMessage {
	out := []json.RawMessage{}
	for _, m := range manifests {
		var d struct {
			ArtifactType string `json:"artifactType"`
		}
		if json.Unmarshal(m, &d) == nil && d.ArtifactType == artifactType {
			out = append(out, m)
		}
	}
	return out
}

// referrersTag is the tag the referrers tag schema keeps a subject's
// referrers at: the digest with "-" for ":", its encoded part cut to 64
// characters.
func referrersTag(subject string) string {
	alg, encoded, _ := strings.Cut(subject, ":")
	if len(encoded) > 64 {
		encoded = encoded[:64]
	}
	return alg + "-" + encoded
}

// upstreamAnswer is an answer of the upstream that goes to the client as
// it is (a refusal, an outage).
type upstreamAnswer struct{ resp *http.Response }

func (e *upstreamAnswer) Error() string {
	return fmt.Sprintf("the upstream answered %s", e.resp.Status)
}
