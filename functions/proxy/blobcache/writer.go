package blobcache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"os"
)

// Writer stores a blob as it streams from the upstream to the client. Its
// Write never fails the stream: a cache that cannot write (a full disk, a
// broken store) stops caching that blob and the client's pull goes on.
type Writer struct {
	c       *Cache
	repo    string
	digest  string
	size    int64
	file    *os.File
	hash    hash.Hash
	written int64
	broken  error
	release func()
}

// NewWriter starts caching a blob of size bytes for repo. It returns nil,
// and the blob passes through uncached, when the digest is not one the
// cache stores, the size is unknown, or the blob cannot fit.
func (c *Cache) NewWriter(repo, digest string, size int64) *Writer {
	if !Cacheable(digest) || size < 0 {
		return nil
	}
	release, ok := c.lru.reserve(size)
	if !ok {
		c.logger.Infow("A blob passes through uncached: it does not fit in the cache", "digest", digest, "size", size)
		return nil
	}
	f, err := os.CreateTemp(c.staging, "blob-*")
	if err != nil {
		release()
		c.logger.Warnw("A blob passes through uncached: the staging directory refused it", "error", err)
		return nil
	}
	return &Writer{c: c, repo: repo, digest: digest, size: size, file: f, hash: sha256.New(), release: release}
}

// Write hashes p and writes it to the staged file; it always reports
// success.
func (w *Writer) Write(p []byte) (int, error) {
	if w.broken != nil {
		return len(p), nil
	}
	w.hash.Write(p)
	if _, err := w.file.Write(p); err != nil {
		w.broken = err
	}
	w.written += int64(len(p))
	return len(p), nil
}

// Commit makes the blob visible, linked to repo, if all of it was written
// and its digest checks out; otherwise it discards it and says why.
func (w *Writer) Commit(ctx context.Context) error {
	// The reservation ends as the content is counted, not after: counted
	// twice, it would evict itself.
	defer w.release()
	name := w.file.Name()
	err := w.file.Close()
	switch {
	case w.broken != nil:
		err = fmt.Errorf("writing blob %s to the cache: %w", w.digest, w.broken)
	case err != nil:
	case w.written != w.size:
		err = fmt.Errorf("blob %s: %d of %d bytes came: not cached", w.digest, w.written, w.size)
	case "sha256:"+hex.EncodeToString(w.hash.Sum(nil)) != w.digest:
		err = fmt.Errorf("blob %s: the upstream's bytes have another digest: not cached", w.digest)
	}
	if err != nil {
		os.Remove(name)
		return err
	}
	content := contentName(w.digest)
	if err := w.c.store.putFile(ctx, content, name, w.size); err != nil {
		os.Remove(name)
		return fmt.Errorf("storing blob %s: %w", w.digest, err)
	}
	w.release()
	w.c.lru.add(content, w.size)
	return w.c.link(ctx, w.repo, w.digest, "")
}

// Abort discards the blob: the stream broke off.
func (w *Writer) Abort() {
	w.file.Close()
	os.Remove(w.file.Name())
	w.release()
}
