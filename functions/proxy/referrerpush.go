package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/oci-connector/oci-connector/functions/proxy/blobcache"
)

// pushManifest forwards a manifest PUT. When the manifest names a subject
// and the upstream's answer has no OCI-Subject (it does not keep the
// referrers list), the proxy adds the manifest to the subject's index in
// the referrers tag schema, and only then answers OCI-Subject, so that the
// client does not race it with an update of its own. It returns the
// subject's digest, for the event; "" when there is none.
func (u *upstream) pushManifest(w http.ResponseWriter, r *http.Request, a admission) string {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, codeManifestInvalid, fmt.Sprintf("a manifest may have at most %d bytes", maxManifestBytes))
			return ""
		}
		writeError(w, http.StatusBadRequest, codeManifestInvalid, "the manifest could not be read")
		return ""
	}
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	resp, err := u.exchange(r.Context(), r, a, http.MethodPut, "", false)
	if err != nil {
		u.failed(w, err)
		return ""
	}
	defer resp.Body.Close()
	subject, d, ok := referrerOf(body, r.Header.Get("Content-Type"), resp.Header.Get("Docker-Content-Digest"))
	if !ok || resp.StatusCode != http.StatusCreated {
		u.respond(w, r, resp, nil)
		return ""
	}
	if d.Digest == "" {
		d.Digest = blobcache.Digest(body)
	}
	if resp.Header.Get(subjectHeader) == "" {
		// The index is updated even if the client goes away now: the
		// manifest is stored.
		ctx := context.WithoutCancel(r.Context())
		if err := u.updateReferrersTag(ctx, a, a.route.name, subject, adding(d)); err != nil {
			u.logger.Warnw("The referrers index was not updated for a pushed referrer", "repository", a.route.name, "subject", subject, "error", err)
			// No OCI-Subject: the client keeps the index itself, and hears why not.
			resp.Header.Set("Warning", fmt.Sprintf("299 - %q", "the proxy could not add this manifest to its subject's referrers: "+err.Error()))
			u.respond(w, r, resp, nil)
			return subject
		}
		resp.Header.Set(subjectHeader, subject)
	}
	u.respond(w, r, resp, nil)
	return subject
}

// deleteManifest forwards a manifest DELETE. A referrer deleted from an
// upstream that does not keep the referrers list is taken out of its
// subject's index too.
func (u *upstream) deleteManifest(w http.ResponseWriter, r *http.Request, a admission) {
	ctx := r.Context()
	subject, digest := "", a.route.reference
	if digestRE.MatchString(digest) {
		// What it refers to is known only before it goes.
		resp, err := u.call(ctx, a, http.MethodGet, "/v2/"+a.route.name+"/manifests/"+digest, "", http.Header{"Accept": {manifestMediaTypes}}, nil)
		if err == nil {
			if resp.StatusCode == http.StatusOK {
				if raw, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestBytes)); err == nil {
					subject, _, _ = referrerOf(raw, resp.Header.Get("Content-Type"), digest)
				}
			}
			resp.Body.Close()
		}
	}
	resp, err := u.exchange(ctx, r, a, http.MethodDelete, "", false)
	if err != nil {
		u.failed(w, err)
		return
	}
	defer resp.Body.Close()
	if subject != "" && resp.StatusCode == http.StatusAccepted && !u.keepsReferrers(ctx, a, subject) {
		if err := u.updateReferrersTag(context.WithoutCancel(ctx), a, a.route.name, subject, removing(digest)); err != nil {
			u.logger.Warnw("A deleted referrer was not taken out of the referrers index", "repository", a.route.name, "subject", subject, "error", err)
			resp.Header.Set("Warning", fmt.Sprintf("299 - %q", "the proxy could not take this manifest out of its subject's referrers: "+err.Error()))
		}
	}
	u.respond(w, r, resp, nil)
}

// keepsReferrers says whether the upstream answers the referrers API for
// subject itself.
func (u *upstream) keepsReferrers(ctx context.Context, a admission, subject string) bool {
	resp, err := u.call(ctx, a, http.MethodGet, "/v2/"+a.route.name+"/referrers/"+subject, "", http.Header{"Accept": {mediaTypeIndex}}, nil)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK && isIndex(resp.Header.Get("Content-Type"))
}

// manifestMediaTypes are the manifest types the proxy reads itself.
const manifestMediaTypes = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, " +
	"application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json"
