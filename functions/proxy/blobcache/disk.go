package blobcache

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// disk keeps the cache in a directory: the Connector's emptyDir. Its
// staging directory is inside it, so a finished blob becomes visible with
// one rename.
type disk struct {
	root string
}

func (d disk) path(name string) string { return filepath.Join(d.root, filepath.FromSlash(name)) }

func (d disk) open(_ context.Context, name string) (io.ReadSeekCloser, int64, error) {
	f, err := os.Open(d.path(name))
	if err != nil {
		return nil, 0, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, info.Size(), nil
}

func (d disk) putFile(_ context.Context, name, path string, _ int64) error {
	to := d.path(name)
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return os.Rename(path, to)
}

func (d disk) readSmall(_ context.Context, name string) ([]byte, error) {
	return os.ReadFile(d.path(name))
}

// writeSmall writes beside and renames, so that a reader sees the old
// record or the new one, never half of one.
func (d disk) writeSmall(_ context.Context, name string, b []byte) error {
	to := d.path(name)
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(to), ".record-*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), to)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func (d disk) remove(_ context.Context, name string) error {
	if err := os.Remove(d.path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (d disk) removeUnder(_ context.Context, prefix string) error {
	return os.RemoveAll(d.path(strings.TrimSuffix(prefix, "/")))
}

func (d disk) walk(_ context.Context, prefix string, fn func(string, int64, time.Time)) error {
	err := filepath.WalkDir(d.path(prefix), func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		rel, _ := filepath.Rel(d.root, path)
		fn(filepath.ToSlash(rel), info.Size(), info.ModTime())
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
