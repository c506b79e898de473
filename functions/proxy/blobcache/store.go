package blobcache

import (
	"context"
	"io"
	"time"
)

// store is where the cache keeps its objects: a local directory (disk.go)
// or an S3-compatible bucket (bucket.go). Names are slash-separated paths.
type store interface {
	// open starts reading name and returns its size; fs.ErrNotExist when
	// there is none. An *os.File is sent to clients with sendfile.
	open(ctx context.Context, name string) (io.ReadSeekCloser, int64, error)
	// putFile stores the complete file at path as name. The file is the
	// store's to move or remove afterwards.
	putFile(ctx context.Context, name, path string, size int64) error
	// readSmall and writeSmall keep the cache's small records.
	readSmall(ctx context.Context, name string) ([]byte, error)
	writeSmall(ctx context.Context, name string, b []byte) error
	// remove deletes name; a missing one is no error.
	remove(ctx context.Context, name string) error
	// removeUnder deletes every name under prefix.
	removeUnder(ctx context.Context, prefix string) error
	// walk calls fn for every object under prefix.
	walk(ctx context.Context, prefix string, fn func(name string, size int64, modified time.Time)) error
}
