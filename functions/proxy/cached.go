package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"go.uber.org/zap"

	"github.com/oci-connector/oci-connector/functions/proxy/blobcache"
	"github.com/oci-connector/oci-connector/pkg/events"
)

// The cache's part in answering a request (cacheOutcome): for the access
// log, the metrics and the image.pulled event.
const (
	cacheHit   = events.CacheHit
	cacheMiss  = events.CacheMiss
	cacheStale = events.CacheStale
)

// staleWarning goes with a manifest served from the cache because the
// upstream could not say what the tag is now. The distribution spec lets
// a registry warn with code 299.
const staleWarning = `299 - "the upstream registry cannot answer; this is the last manifest it gave for this tag"`

// tagCheckTimeout bounds asking the upstream what a tag is, when the cache
// could answer instead.
const tagCheckTimeout = 10 * time.Second

// readCache answers pulls of manifests and blobs from the cache when it
// may, and fills it from the upstream when it must. It only ever sees
// requests the proxy admitted: authenticated, authorized, in scope.
type readCache struct {
	c        *blobcache.Cache
	upstream *upstream
	logger   *zap.SugaredLogger
}

// cachedRead says whether the cache takes part in answering r: a read of a
// manifest or a blob.
func cachedRead(r *http.Request, a admission) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		(a.route.kind == routeManifest || a.route.kind == routeBlob)
}

// serve answers the admitted read r and says how the cache took part.
func (rc *readCache) serve(w http.ResponseWriter, r *http.Request, a admission) string {
	if a.route.kind == routeBlob {
		return rc.blob(w, r, a)
	}
	if blobcache.Cacheable(a.route.reference) {
		return rc.manifestByDigest(w, r, a)
	}
	return rc.manifestByTag(w, r, a)
}

// manifestByDigest serves content the cache holds for the repository, and
// fetches it otherwise.
func (rc *readCache) manifestByDigest(w http.ResponseWriter, r *http.Request, a admission) string {
	if e, err := rc.c.Open(r.Context(), a.route.name, a.route.reference); err == nil {
		defer e.Close()
		if e.MediaType != "" {
			serveEntry(w, r, e)
			return cacheHit
		}
	}
	if r.Method == http.MethodHead {
		rc.upstream.forward(w, r, a)
		return cacheMiss
	}
	return rc.fetchManifest(w, r, a, "")
}

// manifestByTag asks the upstream what the tag is now, and serves that
// digest from the cache when it holds it. Only when the upstream cannot
// answer (unreachable, 5xx, 429) does the last digest known for the tag
// serve, with a warning; a 401, 403 or 404 goes to the client, and the
// cache forgets what the upstream refused.
func (rc *readCache) manifestByTag(w http.ResponseWriter, r *http.Request, a admission) string {
	ctx := r.Context()
	repo, tag := a.route.name, a.route.reference
	checkCtx, cancel := context.WithTimeout(ctx, tagCheckTimeout)
	defer cancel()
	resp, err := rc.upstream.exchange(checkCtx, r, a, http.MethodHead, "", false)
	if err != nil && ctx.Err() != nil {
		return "" // the client went away
	}
	if resp != nil {
		defer resp.Body.Close()
	}
	if upstreamCannotAnswer(resp, err) {
		if d, ok := rc.c.Tag(ctx, repo, tag); ok {
			if e, oerr := rc.c.Open(ctx, repo, d.Digest); oerr == nil {
				defer e.Close()
				rc.logger.Infow("The upstream cannot answer; serving the tag's last known manifest from the cache",
					"repository", repo, "tag", tag, "digest", d.Digest, zap.Error(err))
				w.Header().Set("Warning", staleWarning)
				serveEntry(w, r, e)
				return cacheStale
			}
		}
		if err != nil {
			rc.upstream.failed(w, err)
		} else {
			rc.upstream.respond(w, r, resp, nil)
		}
		return cacheMiss
	}
	if err != nil || resp.StatusCode != http.StatusOK {
		rc.forgetRefused(ctx, a, resp, err)
		if err != nil {
			rc.upstream.failed(w, err)
		} else if r.Method == http.MethodHead {
			rc.upstream.respond(w, r, resp, nil)
		} else {
			// The client gets the upstream's own error body.
			rc.upstream.forward(w, r, a)
		}
		return ""
	}
	digest := resp.Header.Get("Docker-Content-Digest")
	if blobcache.Cacheable(digest) {
		if err := rc.c.SetTag(ctx, repo, tag, blobcache.Descriptor{Digest: digest, MediaType: resp.Header.Get("Content-Type")}); err != nil {
			rc.logger.Warnw("Recording a tag in the cache failed", "repository", repo, zap.Error(err))
		}
	}
	if r.Method == http.MethodHead {
		rc.upstream.respond(w, r, resp, nil)
		return ""
	}
	if blobcache.Cacheable(digest) {
		if e, err := rc.c.Open(ctx, repo, digest); err == nil {
			defer e.Close()
			if e.MediaType != "" {
				serveEntry(w, r, e)
				return cacheHit
			}
		}
	}
	// Fetch the digest the upstream just named, so that what is stored is
	// what the tag was when asked.
	return rc.fetchManifest(w, r, a, digest)
}

// fetchManifest GETs the manifest (by digest when one is given), stores it
// when its digest checks out, and serves it.
func (rc *readCache) fetchManifest(w http.ResponseWriter, r *http.Request, a admission, digest string) string {
	ctx := r.Context()
	repo := a.route.name
	path := ""
	if digest != "" {
		path = "/v2/" + repo + "/manifests/" + digest
	}
	resp, err := rc.upstream.exchange(ctx, r, a, http.MethodGet, path, false)
	if err != nil {
		rc.forgetRefused(ctx, a, nil, err)
		rc.upstream.failed(w, err)
		return cacheMiss
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		rc.forgetRefused(ctx, a, resp, nil)
		rc.upstream.respond(w, r, resp, nil)
		return cacheMiss
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestBytes+1))
	if err != nil || len(body) > maxManifestBytes {
		// Too large to hold (or broken off): what came, and the rest, go
		// to the client uncached.
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
		rc.upstream.respond(w, r, resp, nil)
		return cacheMiss
	}
	byTag := !blobcache.Cacheable(a.route.reference)
	if digest == "" && !byTag {
		digest = a.route.reference
	}
	if digest == "" {
		// A tag the upstream named no digest for: the content says.
		digest = blobcache.Digest(body)
	}
	mediaType := resp.Header.Get("Content-Type")
	storeCtx := context.WithoutCancel(ctx)
	if err := rc.c.PutManifest(storeCtx, repo, digest, mediaType, body); err != nil {
		rc.logger.Warnw("A manifest was not cached", "repository", repo, zap.Error(err))
	} else if byTag {
		if err := rc.c.SetTag(storeCtx, repo, a.route.reference, blobcache.Descriptor{Digest: digest, MediaType: mediaType}); err != nil {
			rc.logger.Warnw("Recording a tag in the cache failed", "repository", repo, zap.Error(err))
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	rc.upstream.respond(w, r, resp, nil)
	return cacheMiss
}

// blob serves a blob the cache holds for the repository. On a miss, the
// first of concurrent requests for it fetches it, streaming to its client
// and into the cache; the others wait for that and read from the cache.
func (rc *readCache) blob(w http.ResponseWriter, r *http.Request, a admission) string {
	ctx := r.Context()
	repo, digest := a.route.name, a.route.reference
	if e, err := rc.c.Open(ctx, repo, digest); err == nil {
		defer e.Close()
		serveEntry(w, r, e)
		return cacheHit
	}
	if r.Method == http.MethodHead || r.Header.Get("Range") != "" || !blobcache.Cacheable(digest) {
		rc.upstream.forward(w, r, a)
		return cacheMiss
	}
	finish, done := rc.c.Join(repo, digest)
	if finish == nil {
		select {
		case <-done:
		case <-ctx.Done():
			return ""
		}
		if e, err := rc.c.Open(ctx, repo, digest); err == nil {
			defer e.Close()
			serveEntry(w, r, e)
			return cacheHit
		}
		// The fetch it waited for did not end in the cache.
		rc.upstream.forward(w, r, a)
		return cacheMiss
	}
	defer finish()
	resp, err := rc.upstream.exchange(ctx, r, a, http.MethodGet, "", false)
	if err != nil {
		rc.forgetRefused(ctx, a, nil, err)
		rc.upstream.failed(w, err)
		return cacheMiss
	}
	defer resp.Body.Close()
	var into *blobcache.Writer
	if resp.StatusCode == http.StatusOK {
		into = rc.c.NewWriter(repo, digest, resp.ContentLength)
	} else {
		rc.forgetRefused(ctx, a, resp, nil)
	}
	if into == nil {
		rc.upstream.respond(w, r, resp, nil)
		return cacheMiss
	}
	rc.upstream.respond(w, r, resp, into)
	if err := into.Commit(context.WithoutCancel(ctx)); err != nil {
		rc.logger.Warnw("A blob was not cached", "repository", repo, zap.Error(err))
	}
	return cacheMiss
}

// forgetRefused drops what the upstream just said is gone or refused, so
// that the cache never outlives it: a 404 forgets the tag or the
// repository's link to the digest, a 401 or 403 every link and tag of the
// repository.
func (rc *readCache) forgetRefused(ctx context.Context, a admission, resp *http.Response, err error) {
	status := 0
	var terr *transport.Error
	switch {
	case resp != nil:
		status = resp.StatusCode
	case errors.As(err, &terr):
		status = terr.StatusCode
	}
	ctx = context.WithoutCancel(ctx)
	repo, ref := a.route.name, a.route.reference
	var ferr error
	switch status {
	case http.StatusNotFound:
		if blobcache.Cacheable(ref) {
			ferr = rc.c.ForgetLink(ctx, repo, ref)
		} else {
			ferr = rc.c.ForgetTag(ctx, repo, ref)
		}
	case http.StatusUnauthorized, http.StatusForbidden:
		ferr = rc.c.ForgetRepository(ctx, repo)
	}
	if ferr != nil {
		rc.logger.Warnw("Forgetting what the upstream refused failed", "repository", repo, zap.Error(ferr))
	}
}

// upstreamCannotAnswer says whether the upstream failed to answer at all:
// unreachable, timed out, 5xx or 429. A refusal it states is an answer.
func upstreamCannotAnswer(resp *http.Response, err error) bool {
	if err != nil {
		var terr *transport.Error
		if errors.As(err, &terr) {
			return terr.StatusCode >= 500 || terr.StatusCode == http.StatusTooManyRequests
		}
		return true
	}
	return resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
}

// serveEntry answers with cached content: ranges and conditional requests
// as net/http serves files, a file on disk with sendfile.
func serveEntry(w http.ResponseWriter, r *http.Request, e *blobcache.Entry) {
	h := w.Header()
	contentType := e.MediaType
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	h.Set("Content-Type", contentType)
	h.Set("Docker-Content-Digest", e.Digest)
	h.Set("Etag", strconv.Quote(e.Digest))
	h.Set("Docker-Distribution-API-Version", "registry/2.0")
	if f, ok := e.File(); ok {
		// The file itself, not its wrapper: net/http sends an *os.File
		// with sendfile.
		http.ServeContent(w, r, "", time.Time{}, f)
		return
	}
	http.ServeContent(w, r, "", time.Time{}, e)
}
