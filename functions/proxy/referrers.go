package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// The OCI 1.1 referrers API for every upstream (distribution v3, among
// others, answers it 404). A client's GET of /v2/<name>/referrers/<digest>
// gets the upstream's own answer when it is an image index; otherwise the
// index the referrers tag schema keeps at the tag <alg>-<hex> of the subject
// digest, which is what 1.1 clients write to such registries, filtered by
// artifactType as the API is. An absent tag is an empty index.
const (
	mediaTypeIndex = "application/vnd.oci.image.index.v1+json"
	// filtersAppliedHeader says which filters the answer applied.
	filtersAppliedHeader = "OCI-Filters-Applied"
)

// referrers answers a referrers GET (see above).
func (u *upstream) referrers(w http.ResponseWriter, r *http.Request, a admission) {
	ctx := r.Context()
	resp, err := u.getJSON(ctx, r, a, r.URL.Path, a.query)
	if err != nil {
		u.failed(w, err)
		return
	}
	if resp.StatusCode == http.StatusOK && isIndex(resp.Header.Get("Content-Type")) {
		u.relay(w, resp)
		return
	}
	if resp.StatusCode != http.StatusNotFound && resp.StatusCode/100 != 2 {
		u.relay(w, resp) // a refusal or an outage is the upstream's to tell
		return
	}
	resp.Body.Close()

	tag := strings.Replace(a.route.reference, ":", "-", 1)
	resp, err = u.getJSON(ctx, r, a, "/v2/"+a.route.name+"/manifests/"+tag, "")
	if err != nil {
		u.failed(w, err)
		return
	}
	defer resp.Body.Close()
	var manifests []json.RawMessage
	switch {
	case resp.StatusCode == http.StatusNotFound:
		// No referrers yet.
	case resp.StatusCode == http.StatusOK:
		if manifests, err = indexManifests(resp); err != nil {
			u.logger.Warnw("The referrers tag schema's index is not an image index", "repository", a.route.name, "tag", tag, "error", err)
			writeError(w, http.StatusBadGateway, codeManifestInvalid,
				fmt.Sprintf("the upstream's referrers tag %s of %s is not an image index: %v", tag, a.route.name, err))
			return
		}
	default:
		u.relay(w, resp)
		return
	}
	query, _ := url.ParseQuery(a.query)
	if artifactType := query.Get("artifactType"); artifactType != "" {
		manifests = withArtifactType(manifests, artifactType)
		w.Header().Set(filtersAppliedHeader, "artifactType")
	}
	if manifests == nil {
		manifests = []json.RawMessage{}
	}
	body, err := json.Marshal(struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     string            `json:"mediaType"`
		Manifests     []json.RawMessage `json:"manifests"`
	}{2, mediaTypeIndex, manifests})
	if err != nil {
		u.failed(w, err)
		return
	}
	w.Header().Set("Content-Type", mediaTypeIndex)
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	_, _ = w.Write(body)
}

// getJSON GETs path upstream with the admission's scopes, as JSON, with the
// client's request headers the proxy passes on.
func (u *upstream) getJSON(ctx context.Context, r *http.Request, a admission, path, rawQuery string) (*http.Response, error) {
	target := *u.base
	target.Path, target.RawPath, target.RawQuery = path, "", rawQuery
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return nil, err
	}
	copyRequestHeaders(req.Header, r.Header)
	req.Header.Set("Accept", mediaTypeIndex)
	resp, _, err := u.send(ctx, req, a.scopes, false)
	return resp, err
}

// relay sends the upstream's answer to the client as it is, but for a
// refusal of the Connector's own credentials, which is the proxy's to
// report.
func (u *upstream) relay(w http.ResponseWriter, resp *http.Response) {
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		u.logger.Errorw("The upstream refused the connector's credentials", "status", resp.StatusCode)
		writeError(w, http.StatusBadGateway, codeUnknown, "the upstream registry refused the connector's credentials; check the Connector's status")
		return
	}
	copyResponseHeaders(w.Header(), resp.Header, u.base.Host)
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

func isIndex(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.TrimSpace(mt) == mediaTypeIndex
}

// indexManifests reads an image index's descriptors, as they are.
func indexManifests(resp *http.Response) ([]json.RawMessage, error) {
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestBytes+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxManifestBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxManifestBytes)
	}
	var index struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     string            `json:"mediaType"`
		Manifests     []json.RawMessage `json:"manifests"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&index); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	mediaType := index.MediaType
	if mediaType == "" {
		mediaType, _, _ = strings.Cut(resp.Header.Get("Content-Type"), ";")
	}
	if index.SchemaVersion != 2 || mediaType != mediaTypeIndex {
		return nil, fmt.Errorf("schemaVersion %d, mediaType %q", index.SchemaVersion, mediaType)
	}
	return index.Manifests, nil
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
