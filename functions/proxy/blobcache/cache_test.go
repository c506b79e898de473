package blobcache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func newTestCache(t *testing.T, bound int64) (*Cache, string) {
	t.Helper()
	dir := t.TempDir()
	c, err := New(context.Background(), Options{Dir: dir, Bound: bound})
	if err != nil {
		t.Fatal(err)
	}
	return c, dir
}

// put writes b as a blob of repo through a Writer, as a fill does.
func put(t *testing.T, c *Cache, repo string, b []byte) (string, error) {
	t.Helper()
	digest := sha256Digest(b)
	w := c.NewWriter(repo, digest, int64(len(b)))
	if w == nil {
		return digest, errors.New("no room")
	}
	if _, err := w.Write(b); err != nil {
		t.Fatalf("a Writer's Write failed: %v", err)
	}
	return digest, w.Commit(context.Background())
}

// A blob is readable through the repository it was written for, and no
// other.
func TestABlobIsLinkedToItsRepositoryOnly(t *testing.T) {
	c, _ := newTestCache(t, 1<<20)
	digest, err := put(t, c, "team-a/app", []byte("layer"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := c.Open(context.Background(), "team-a/app", digest)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(e)
	e.Close()
	if string(got) != "layer" {
		t.Fatalf("read %q", got)
	}
	if _, err := c.Open(context.Background(), "team-b/app", digest); !errors.Is(err, ErrMiss) {
		t.Fatalf("team-b read team-a's blob: %v", err)
	}
}

// A write the disk refuses (here: the staged file closed under the
// Writer) never fails the stream, and stores nothing.
func TestAFailingDiskPassesThrough(t *testing.T) {
	c, dir := newTestCache(t, 1<<20)
	b := []byte("layer bytes")
	digest := sha256Digest(b)
	w := c.NewWriter("team-a/app", digest, int64(len(b)))
	w.file.Close()
	if n, err := w.Write(b); n != len(b) || err != nil {
		t.Fatalf("Write = %d, %v: a broken cache must not break the client's stream", n, err)
	}
	if err := w.Commit(context.Background()); err == nil {
		t.Fatal("a blob the disk refused was committed")
	}
	if _, err := os.Stat(filepath.Join(dir, contentName(digest))); !os.IsNotExist(err) {
		t.Fatalf("content stored: %v", err)
	}
	if used, _ := c.Usage(); used != 0 {
		t.Errorf("%d bytes counted", used)
	}
	// Its reservation was given back: a blob of the whole bound fits.
	if _, err := put(t, c, "team-a/app", bytes.Repeat([]byte("x"), 1<<20)); err != nil {
		t.Errorf("the bound's room was not given back: %v", err)
	}
}

// Short or corrupt bytes are not stored.
func TestOnlyWholeVerifiedBlobsAreStored(t *testing.T) {
	c, _ := newTestCache(t, 1<<20)
	b := []byte("the real bytes")
	digest := sha256Digest(b)
	short := c.NewWriter("r", digest, int64(len(b)))
	short.Write(b[:5])
	if err := short.Commit(context.Background()); err == nil {
		t.Error("a short blob was committed")
	}
	corrupt := c.NewWriter("r", digest, int64(len(b)))
	corrupt.Write(bytes.ToUpper(b))
	if err := corrupt.Commit(context.Background()); err == nil {
		t.Error("a blob of other bytes was committed")
	}
	if _, err := c.Open(context.Background(), "r", digest); !errors.Is(err, ErrMiss) {
		t.Errorf("the blob is readable: %v", err)
	}
}

// The bound holds: the least recently used content goes first; content
// being read stays; what cannot fit is refused, not forced in.
func TestTheBoundEvictsTheLeastRecentlyUsed(t *testing.T) {
	c, _ := newTestCache(t, 300)
	blob := func(s string) []byte { return bytes.Repeat([]byte(s), 100) }
	a, _ := put(t, c, "r", blob("a"))
	b, _ := put(t, c, "r", blob("b"))
	ea, err := c.Open(context.Background(), "r", a) // a is now the most recent, and pinned
	if err != nil {
		t.Fatal(err)
	}
	if _, err := put(t, c, "r", blob("c")); err != nil {
		t.Fatal(err)
	}
	if _, err := put(t, c, "r", blob("d")); err != nil {
		t.Fatal(err) // b goes: the least recently used
	}
	if _, err := c.Open(context.Background(), "r", b); !errors.Is(err, ErrMiss) {
		t.Errorf("b was not evicted: %v", err)
	}
	if used, bound := c.Usage(); used > bound {
		t.Errorf("%d bytes held, bound %d", used, bound)
	}
	if _, err := put(t, c, "r", bytes.Repeat([]byte("z"), 301)); err == nil {
		t.Error("a blob larger than the bound was taken")
	}
	got, _ := io.ReadAll(ea)
	ea.Close()
	if !bytes.Equal(got, blob("a")) {
		t.Error("the pinned read broke")
	}
}

// A manifest links what it names to its repository, and the index's
// children with their media types.
func TestAManifestLinksWhatItNames(t *testing.T) {
	c, _ := newTestCache(t, 1<<20)
	layer, _ := put(t, c, "elsewhere", []byte("layer"))
	manifest := []byte(`{"schemaVersion":2,"config":{"digest":"` + sha256Digest([]byte("cfg")) + `"},"layers":[{"digest":"` + layer + `"}],` +
		`"subject":{"digest":"` + sha256Digest([]byte("subject")) + `"}}`)
	md := sha256Digest(manifest)
	if err := c.PutManifest(context.Background(), "team/app", md, "application/vnd.oci.image.manifest.v1+json", manifest); err != nil {
		t.Fatal(err)
	}
	if e, err := c.Open(context.Background(), "team/app", layer); err != nil {
		t.Errorf("the manifest's layer is not readable through its repository: %v", err)
	} else {
		e.Close()
	}
	if e, err := c.Open(context.Background(), "team/app", md); err != nil || e.MediaType != "application/vnd.oci.image.manifest.v1+json" {
		t.Errorf("the manifest: %v %+v", err, e)
	} else {
		e.Close()
	}
	if err := c.PutManifest(context.Background(), "team/app", sha256Digest([]byte("other")), "x", manifest); err == nil {
		t.Error("a manifest under another digest was stored")
	}
	if err := c.ForgetRepository(context.Background(), "team/app"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Open(context.Background(), "team/app", md); !errors.Is(err, ErrMiss) {
		t.Errorf("after ForgetRepository the manifest is readable: %v", err)
	}
}
