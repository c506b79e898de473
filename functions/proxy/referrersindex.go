package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Keeping the referrers tag schema's index for clients, as the OCI 1.1
// spec asks a client to when the registry does not keep the list.
//
// The registry API has no compare-and-swap, so two writers of one index
// can lose each other's update. Within a proxy, updates of one subject's
// index take turns. Across replicas, each writer reads the index back
// after a pause and writes again until its change is there: a lost update
// comes back unless another replica's whole read-modify-write spans the
// pause. The pause is far longer than an update takes.

// indexUpdateAttempts bounds the writes of one change.
const indexUpdateAttempts = 8

// indexSettle is the pause before reading an index back, with as much
// again at random so that racing replicas do not meet again.
const indexSettle = 100 * time.Millisecond

// referrersIndex is an image index as the tag schema keeps it; its
// descriptors are kept as the upstream has them.
type referrersIndex struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	Manifests     []json.RawMessage `json:"manifests"`
}

// descriptor is what the index says of one referrer.
type descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// corruptIndexError says the tag schema's tag holds something other than
// an image index: nothing is written over it.
type corruptIndexError struct {
	repository, tag string
	err             error
}

func (e *corruptIndexError) Error() string {
	return fmt.Sprintf("the upstream's referrers tag %s of %s is not an image index (%v); it is left as it is", e.tag, e.repository, e.err)
}

// subjectLocks make the updates of one index within this proxy take turns.
type subjectLocks struct {
	mu    sync.Mutex
	locks map[string]*subjectLock
}

type subjectLock struct {
	sync.Mutex
	users int
}

func (l *subjectLocks) lock(key string) func() {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[string]*subjectLock{}
	}
	s := l.locks[key]
	if s == nil {
		s = &subjectLock{}
		l.locks[key] = s
	}
	s.users++
	l.mu.Unlock()
	s.Lock()
	return func() {
		s.Unlock()
		l.mu.Lock()
		if s.users--; s.users == 0 {
			delete(l.locks, key)
		}
		l.mu.Unlock()
	}
}

// readReferrersTag reads subject's index from the tag schema: empty when
// the tag does not exist. The digest is the tag's, "" when absent.
func (u *upstream) readReferrersTag(ctx context.Context, a admission, repo, subject string) (referrersIndex, string, error) {
	tag := referrersTag(subject)
	resp, err := u.call(ctx, a, http.MethodGet, "/v2/"+repo+"/manifests/"+tag, "", http.Header{"Accept": {mediaTypeIndex}}, nil)
	if err != nil {
		return referrersIndex{}, "", err
	}
	empty := referrersIndex{SchemaVersion: 2, MediaType: mediaTypeIndex, Manifests: []json.RawMessage{}}
	switch resp.StatusCode {
	case http.StatusNotFound:
		resp.Body.Close()
		return empty, "", nil
	case http.StatusOK:
	default:
		return referrersIndex{}, "", &upstreamAnswer{resp: resp}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestBytes+1))
	if err != nil {
		return referrersIndex{}, "", err
	}
	if len(raw) > maxManifestBytes {
		return referrersIndex{}, "", &corruptIndexError{repo, tag, fmt.Errorf("larger than %d bytes", maxManifestBytes)}
	}
	var idx referrersIndex
	if err := json.Unmarshal(raw, &idx); err != nil {
		return referrersIndex{}, "", &corruptIndexError{repo, tag, fmt.Errorf("not JSON: %w", err)}
	}
	mediaType := idx.MediaType
	if mediaType == "" {
		mediaType = resp.Header.Get("Content-Type")
	}
	if idx.SchemaVersion != 2 || !isIndex(mediaType) {
		return referrersIndex{}, "", &corruptIndexError{repo, tag, fmt.Errorf("schemaVersion %d, mediaType %q", idx.SchemaVersion, mediaType)}
	}
	if idx.Manifests == nil {
		idx.Manifests = []json.RawMessage{}
	}
	return idx, resp.Header.Get("Docker-Content-Digest"), nil
}

// indexChange changes an index's descriptors; it says false when the
// index already is as the change wants it.
type indexChange func([]json.RawMessage) ([]json.RawMessage, bool)

// adding adds d unless a descriptor of its digest is there.
func adding(d descriptor) indexChange {
	return func(ms []json.RawMessage) ([]json.RawMessage, bool) {
		if indexOf(ms, d.Digest) >= 0 {
			return ms, false
		}
		raw, _ := json.Marshal(d)
		return append(append([]json.RawMessage(nil), ms...), raw), true
	}
}

// removing removes the descriptors of digest.
func removing(digest string) indexChange {
	return func(ms []json.RawMessage) ([]json.RawMessage, bool) {
		if indexOf(ms, digest) < 0 {
			return ms, false
		}
		out := []json.RawMessage{}
		for _, m := range ms {
			if digestOf(m) != digest {
				out = append(out, m)
			}
		}
		return out, true
	}
}

func indexOf(ms []json.RawMessage, digest string) int {
	for i, m := range ms {
		if digestOf(m) == digest {
			return i
		}
	}
	return -1
}

func digestOf(m json.RawMessage) string {
	var d struct {
		Digest string `json:"digest"`
	}
	_ = json.Unmarshal(m, &d)
	return d.Digest
}

// updateReferrersTag applies change to subject's index in repo and writes
// it, until a read after the pause shows the change (see above).
func (u *upstream) updateReferrersTag(ctx context.Context, a admission, repo, subject string, change indexChange) error {
	defer u.referrerLocks.lock(repo + "@" + subject)()
	tag := referrersTag(subject)
	for attempt := 0; ; attempt++ {
		idx, _, err := u.readReferrersTag(ctx, a, repo, subject)
		if err != nil {
			return err
		}
		manifests, changed := change(idx.Manifests)
		if !changed {
			return nil // as wanted: already, or read back after the pause
		}
		if attempt == indexUpdateAttempts {
			return fmt.Errorf("the referrers index %s of %s kept losing the change to concurrent writers after %d writes", tag, repo, attempt)
		}
		body, _ := json.Marshal(referrersIndex{SchemaVersion: 2, MediaType: mediaTypeIndex, Manifests: manifests})
		resp, err := u.call(ctx, a, http.MethodPut, "/v2/"+repo+"/manifests/"+tag, "", http.Header{"Content-Type": {mediaTypeIndex}}, body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusCreated {
			return &upstreamAnswer{resp: resp}
		}
		resp.Body.Close()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(indexSettle + rand.N(indexSettle)):
		}
	}
}

// referrerOf is what a manifest says of itself as a referrer: its subject
// and its descriptor in the subject's index, as a 1.1 client writes it.
// ok is false when it has no subject.
func referrerOf(body []byte, contentType, digest string) (subject string, d descriptor, ok bool) {
	var m struct {
		MediaType    string `json:"mediaType"`
		ArtifactType string `json:"artifactType"`
		Config       struct {
			MediaType string `json:"mediaType"`
		} `json:"config"`
		Subject *struct {
			Digest string `json:"digest"`
		} `json:"subject"`
		Annotations map[string]string `json:"annotations"`
	}
	if json.Unmarshal(body, &m) != nil || m.Subject == nil || !digestRE.MatchString(m.Subject.Digest) {
		return "", descriptor{}, false
	}
	mediaType := m.MediaType
	if mediaType == "" {
		mediaType = contentType
	}
	artifactType := m.ArtifactType
	if artifactType == "" {
		// The spec: an image manifest without artifactType is listed
		// under its config's media type.
		artifactType = m.Config.MediaType
	}
	return m.Subject.Digest, descriptor{MediaType: mediaType, Digest: digest, Size: int64(len(body)), ArtifactType: artifactType, Annotations: m.Annotations}, true
}
