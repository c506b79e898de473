// Package blobcache is the proxy's content-addressed cache of manifests and
// blobs, on local disk or in an S3-compatible bucket.
//
// The cache never decides who may read: the proxy authenticates,
// authorizes and scope-checks every request first. What it adds is
// provenance. Content is stored once by digest, and a repository may read
// it from the cache only through a link made when the content reached the
// cache through that repository: fetched for it, or referenced by a
// manifest served for it. Anything else is a miss, and the upstream
// decides.
//
// Layout, the same in a directory and in a bucket:
//
//	blobs/sha256/<hex>                           content, manifests and blobs alike
//	repositories/<name>/_links/sha256/<hex>      a link (JSON): a manifest's media type, none for a blob
//	repositories/<name>/_tags/<tag>              the tag's last known descriptor (JSON)
//
// Repository path components never begin with "_" (the distribution
// spec's grammar), so a repository's records never mix with another's.
package blobcache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/oci-connector/oci-connector/pkg/objectstore"
)

// ErrMiss says the cache holds no content the repository may read.
var ErrMiss = errors.New("not in the cache")

// sha256RE is the only digest form the cache stores; others pass through.
var sha256RE = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

// Cacheable says whether content of this digest can be cached.
func Cacheable(digest string) bool { return sha256RE.MatchString(digest) }

// Options configure a Cache.
type Options struct {
	// Dir is the cache's directory (emptyDir storage); empty with Bucket.
	Dir string
	// Bucket is the object store (s3 storage).
	Bucket *objectstore.Store
	// StagingDir holds blobs while they are written and verified. It must
	// be on Dir's file system with disk storage; Dir/staging by default.
	StagingDir string
	// Bound is the most content bytes the cache holds.
	Bound  int64
	Logger *zap.SugaredLogger
}

// Cache is the proxy's cache; see the package comment.
type Cache struct {
	store   store
	staging string
	lru     *lru
	fills   *fills
	logger  *zap.SugaredLogger
}

// New opens the cache, learning what content it already holds (a
// restarted container's emptyDir, a bucket shared with other replicas),
// and clears blobs left half-written by an earlier process.
func New(ctx context.Context, o Options) (*Cache, error) {
	if o.Bound <= 0 {
		return nil, fmt.Errorf("cache bound %d: want a positive number of bytes", o.Bound)
	}
	logger := o.Logger
	if logger == nil {
		logger = zap.NewNop().Sugar()
	}
	c := &Cache{fills: newFills(), logger: logger}
	switch {
	case o.Bucket != nil:
		c.store = bucket{s: o.Bucket}
		c.staging = o.StagingDir
		if c.staging == "" {
			c.staging = filepath.Join(os.TempDir(), "oci-connector-cache-staging")
		}
	case o.Dir != "":
		c.store = disk{root: o.Dir}
		c.staging = o.StagingDir
		if c.staging == "" {
			c.staging = filepath.Join(o.Dir, "staging")
		}
	default:
		return nil, errors.New("the cache needs a directory or a bucket")
	}
	if err := clearDir(c.staging); err != nil {
		return nil, fmt.Errorf("clearing the cache's staging directory: %w", err)
	}
	c.lru = newLRU(o.Bound, func(name string) {
		// Removing a file being read does not end the read: the open
		// descriptor keeps it. Content being read is pinned anyway.
		if err := c.store.remove(context.Background(), name); err != nil {
			c.logger.Warnw("Evicting from the cache failed", "object", name, zap.Error(err))
		}
	})
	type found struct {
		name string
		size int64
		at   time.Time
	}
	var held []found
	if err := c.store.walk(ctx, "blobs/", func(name string, size int64, at time.Time) {
		held = append(held, found{name, size, at})
	}); err != nil {
		// A store that is down makes misses, not a proxy that cannot
		// start; the bound then counts what this process writes.
		c.logger.Warnw("Listing the cache's content failed; starting without it", zap.Error(err))
	}
	// Oldest first, so that the newest are the most recently used.
	slices.SortFunc(held, func(a, b found) int { return a.at.Compare(b.at) })
	for _, f := range held {
		c.lru.add(f.name, f.size)
	}
	return c, nil
}

// clearDir makes dir an empty directory: its contents go, not dir itself,
// which may be a volume's mount point.
func clearDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func contentName(digest string) string {
	return "blobs/sha256/" + strings.TrimPrefix(digest, "sha256:")
}

func linkName(repo, digest string) string {
	return "repositories/" + repo + "/_links/sha256/" + strings.TrimPrefix(digest, "sha256:")
}

func tagName(repo, tag string) string { return "repositories/" + repo + "/_tags/" + tag }

// Entry is content being read from the cache.
type Entry struct {
	io.ReadSeekCloser
	Digest string
	Size   int64
	// MediaType is a manifest's media type; empty for a blob.
	MediaType string
	unpin     func()
}

// Close ends the read; the content may be evicted again.
func (e *Entry) Close() error {
	defer e.unpin()
	return e.ReadSeekCloser.Close()
}

// File is the content's file when it is on local disk, for sendfile.
func (e *Entry) File() (*os.File, bool) {
	f, ok := e.ReadSeekCloser.(*os.File)
	return f, ok
}

// Open returns digest's content for repo when the cache holds it and it
// reached the cache through repo; ErrMiss otherwise.
func (c *Cache) Open(ctx context.Context, repo, digest string) (*Entry, error) {
	if !Cacheable(digest) {
		return nil, ErrMiss
	}
	raw, err := c.store.readSmall(ctx, linkName(repo, digest))
	if err != nil {
		return nil, c.miss(err)
	}
	var l link
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, c.miss(fmt.Errorf("link of %s in %s: %w", digest, repo, err))
	}
	name := contentName(digest)
	unpin, known := c.lru.pin(name)
	r, size, err := c.store.open(ctx, name)
	if err != nil {
		unpin()
		if errors.Is(err, fs.ErrNotExist) {
			c.lru.forget(name)
		}
		return nil, c.miss(err)
	}
	if !known {
		unpin = c.lru.addPinned(name, size)
	}
	return &Entry{ReadSeekCloser: r, Digest: digest, Size: size, MediaType: l.MediaType, unpin: unpin}, nil
}

// miss is ErrMiss, logging a store failure that is not simply absence: a
// broken store makes misses, never failed pulls.
func (c *Cache) miss(err error) error {
	if !errors.Is(err, fs.ErrNotExist) {
		c.logger.Warnw("Reading the cache failed; going upstream", zap.Error(err))
	}
	return ErrMiss
}

// PutManifest stores a manifest served for repo, once its digest checks
// out, and links it and what it references (config, layers, an index's
// manifests) to repo.
func (c *Cache) PutManifest(ctx context.Context, repo, digest, mediaType string, body []byte) error {
	if !Cacheable(digest) {
		return nil
	}
	if got := sha256Digest(body); got != digest {
		return fmt.Errorf("manifest digest %s, wanted %s: not cached", got, digest)
	}
	name := contentName(digest)
	if _, err := c.store.readSmall(ctx, name); errors.Is(err, fs.ErrNotExist) {
		release, ok := c.lru.reserve(int64(len(body)))
		if !ok {
			return nil
		}
		err := c.writeContent(ctx, name, body)
		release()
		if err != nil {
			return err
		}
		c.lru.add(name, int64(len(body)))
	} else if err != nil {
		return err
	}
	for _, ref := range references(body) {
		if err := c.link(ctx, repo, ref.Digest, ref.MediaType); err != nil {
			return err
		}
	}
	return c.link(ctx, repo, digest, mediaType)
}

// writeContent stages small content and moves it into place.
func (c *Cache) writeContent(ctx context.Context, name string, body []byte) error {
	f, err := os.CreateTemp(c.staging, "manifest-*")
	if err != nil {
		return err
	}
	_, err = f.Write(body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = c.store.putFile(ctx, name, f.Name(), int64(len(body)))
	}
	os.Remove(f.Name())
	return err
}

// link is what a repository's link to content records. It is never
// empty: some object stores refuse an empty object.
type link struct {
	MediaType string `json:"mediaType,omitempty"`
}

func (c *Cache) link(ctx context.Context, repo, digest, mediaType string) error {
	if !Cacheable(digest) {
		return nil
	}
	b, _ := json.Marshal(link{MediaType: mediaType})
	return c.store.writeSmall(ctx, linkName(repo, digest), b)
}

// Descriptor is what the cache remembers of a tag.
type Descriptor struct {
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
}

// SetTag records the digest the upstream last gave for repo's tag.
func (c *Cache) SetTag(ctx context.Context, repo, tag string, d Descriptor) error {
	if !Cacheable(d.Digest) {
		return nil
	}
	if old, ok := c.Tag(ctx, repo, tag); ok && old == d {
		return nil
	}
	b, _ := json.Marshal(d)
	return c.store.writeSmall(ctx, tagName(repo, tag), b)
}

// Tag is the digest last known for repo's tag.
func (c *Cache) Tag(ctx context.Context, repo, tag string) (Descriptor, bool) {
	b, err := c.store.readSmall(ctx, tagName(repo, tag))
	if err != nil {
		return Descriptor{}, false
	}
	var d Descriptor
	if json.Unmarshal(b, &d) != nil || !Cacheable(d.Digest) {
		return Descriptor{}, false
	}
	return d, true
}

// ForgetTag drops what the cache knows of repo's tag: the upstream said
// it is gone.
func (c *Cache) ForgetTag(ctx context.Context, repo, tag string) error {
	return c.store.remove(ctx, tagName(repo, tag))
}

// ForgetLink drops repo's link to digest: the upstream said it is gone.
func (c *Cache) ForgetLink(ctx context.Context, repo, digest string) error {
	if !Cacheable(digest) {
		return nil
	}
	return c.store.remove(ctx, linkName(repo, digest))
}

// ForgetRepository drops every link and tag of repo: the upstream refused
// it, and the cache must not outlive that.
func (c *Cache) ForgetRepository(ctx context.Context, repo string) error {
	prefix := "repositories/" + repo + "/"
	if err := c.store.removeUnder(ctx, prefix+"_links/"); err != nil {
		return err
	}
	return c.store.removeUnder(ctx, prefix+"_tags/")
}

// Usage is the content bytes the cache holds and its bound.
func (c *Cache) Usage() (used, bound int64) { return c.lru.usage() }

// Digest is the sha256 digest of b, as the cache names content.
func Digest(b []byte) string { return sha256Digest(b) }

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// reference is a descriptor a manifest names.
type reference struct {
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
}

// references are the descriptors a manifest or index names: its config,
// its layers, an index's manifests. Not its subject: that is another
// image, which a referrer does not make readable.
func references(body []byte) []reference {
	var m struct {
		Config    *reference  `json:"config"`
		Layers    []reference `json:"layers"`
		Manifests []reference `json:"manifests"`
		Blobs     []reference `json:"blobs"`
	}
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	var refs []reference
	if m.Config != nil {
		// A config is a blob: its link holds no media type.
		refs = append(refs, reference{Digest: m.Config.Digest})
	}
	for _, l := range append(m.Layers, m.Blobs...) {
		refs = append(refs, reference{Digest: l.Digest})
	}
	return append(refs, m.Manifests...)
}
