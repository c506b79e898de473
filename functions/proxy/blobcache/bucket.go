package blobcache

import (
	"context"
	"io"
	"os"
	"strings"
	"time"

	"github.com/oci-connector/oci-connector/pkg/objectstore"
)

// bucket keeps the cache in an S3-compatible bucket, shared by every
// replica of the proxy and kept while it is scaled to zero.
type bucket struct {
	s *objectstore.Store
}

func (b bucket) open(ctx context.Context, name string) (io.ReadSeekCloser, int64, error) {
	return b.s.Open(ctx, name)
}

// putFile uploads the staged file, then removes it.
func (b bucket) putFile(ctx context.Context, name, path string, size int64) error {
	defer os.Remove(path)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return b.s.Put(ctx, name, f, size)
}

func (b bucket) readSmall(ctx context.Context, name string) ([]byte, error) {
	return b.s.ReadAll(ctx, name)
}

func (b bucket) writeSmall(ctx context.Context, name string, data []byte) error {
	return b.s.Put(ctx, name, strings.NewReader(string(data)), int64(len(data)))
}

func (b bucket) remove(ctx context.Context, name string) error {
	return b.s.Remove(ctx, name)
}

func (b bucket) removeUnder(ctx context.Context, prefix string) error {
	var names []string
	if err := b.s.Walk(ctx, prefix, func(name string, _ int64, _ time.Time) { names = append(names, name) }); err != nil {
		return err
	}
	for _, name := range names {
		if err := b.s.Remove(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

func (b bucket) walk(ctx context.Context, prefix string, fn func(string, int64, time.Time)) error {
	return b.s.Walk(ctx, prefix, fn)
}
