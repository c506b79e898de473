// Package objectstore reaches an S3-compatible object store with
// minio-go: the proxy keeps its cache there, and the controller probes it
// for the Connector's CacheReady condition.
//
// minio-go v7 is Apache-2.0, speaks SigV4 to any S3-compatible store
// (AWS, GCS's interoperability API, Ceph, R2, ...), and brings a few small
// modules, where the AWS SDK brings a module per service and distribution's
// storage drivers bring the whole v1 SDK.
package objectstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// The keys of the Secret that holds an object store's credentials.
const (
	KeyAccessKeyID     = "accessKeyID"
	KeySecretAccessKey = "secretAccessKey"
)

// Config says which bucket, where, and with which keys.
type Config struct {
	// Endpoint is the store's URL, e.g. https://s3.eu-west-1.amazonaws.com.
	Endpoint string
	Region   string
	Bucket   string
	// Prefix is prepended to every object name ("" for none).
	Prefix          string
	AccessKeyID     string
	SecretAccessKey string
}

// ReadCredentials fills the keys from a directory laid out like a mounted
// Secret (KeyAccessKeyID and KeySecretAccessKey).
func (c *Config) ReadCredentials(dir string) error {
	for key, into := range map[string]*string{KeyAccessKeyID: &c.AccessKeyID, KeySecretAccessKey: &c.SecretAccessKey} {
		b, err := os.ReadFile(filepath.Join(dir, key))
		if err != nil {
			return fmt.Errorf("the object store's Secret has no readable key %s: %w", key, err)
		}
		*into = strings.TrimSpace(string(b))
	}
	return nil
}

// Store is one bucket under one prefix.
type Store struct {
	client *minio.Client
	bucket string
	prefix string
}

// New makes a client; it does not reach the store.
func New(c Config) (*Store, error) {
	u, err := url.Parse(c.Endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("object store endpoint %q is not an http(s) URL with a host", c.Endpoint)
	}
	if c.Bucket == "" {
		return nil, errors.New("no object store bucket")
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(c.AccessKeyID, c.SecretAccessKey, ""),
		Secure: u.Scheme == "https",
		Region: c.Region,
		// Path-style works with every S3-compatible store; virtual hosts
		// need DNS for each bucket.
		BucketLookup: minio.BucketLookupPath,
		Transport:    transport(),
		// A store that is down must cost a pull little: the cache then
		// goes upstream instead of retrying for seconds.
		MaxRetries: 1,
	})
	if err != nil {
		return nil, err
	}
	prefix := strings.Trim(c.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &Store{client: client, bucket: c.Bucket, prefix: prefix}, nil
}

// transport gives up on an unreachable store quickly.
func transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.ResponseHeaderTimeout = 10 * time.Second
	t.MaxIdleConnsPerHost = 64
	return t
}

func (s *Store) key(name string) string { return s.prefix + name }

// notExist turns the store's "no such key" into fs.ErrNotExist.
func notExist(err error) error {
	if err == nil {
		return nil
	}
	if minio.ToErrorResponse(err).Code == "NoSuchKey" || minio.ToErrorResponse(err).StatusCode == http.StatusNotFound {
		return fmt.Errorf("%w: %v", fs.ErrNotExist, err)
	}
	return err
}

// Put stores size bytes of r as name.
func (s *Store) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	_, err := s.client.PutObject(ctx, s.bucket, s.key(name), r, size, minio.PutObjectOptions{ContentType: "application/octet-stream"})
	return err
}

// Object is an object being read.
type Object interface {
	io.ReadSeekCloser
}

// Open starts reading name and returns it with its size; fs.ErrNotExist
// when there is none.
func (s *Store) Open(ctx context.Context, name string) (Object, int64, error) {
	obj, err := s.client.GetObject(ctx, s.bucket, s.key(name), minio.GetObjectOptions{})
	if err != nil {
		return nil, 0, notExist(err)
	}
	// Stat makes the request: a missing object is known here, and the
	// read is under way before anything else can delete the object.
	info, err := obj.Stat()
	if err != nil {
		obj.Close()
		return nil, 0, notExist(err)
	}
	return obj, info.Size, nil
}

// ReadAll reads a small object.
func (s *Store) ReadAll(ctx context.Context, name string) ([]byte, error) {
	obj, _, err := s.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	return io.ReadAll(obj)
}

// Stat returns name's size; fs.ErrNotExist when there is none.
func (s *Store) Stat(ctx context.Context, name string) (int64, error) {
	info, err := s.client.StatObject(ctx, s.bucket, s.key(name), minio.StatObjectOptions{})
	if err != nil {
		return 0, notExist(err)
	}
	return info.Size, nil
}

// Remove deletes name; a missing one is no error.
func (s *Store) Remove(ctx context.Context, name string) error {
	return s.client.RemoveObject(ctx, s.bucket, s.key(name), minio.RemoveObjectOptions{})
}

// Walk calls fn with the name, size and time of every object under prefix.
func (s *Store) Walk(ctx context.Context, prefix string, fn func(name string, size int64, modified time.Time)) error {
	for info := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.key(prefix), Recursive: true}) {
		if info.Err != nil {
			return info.Err
		}
		fn(strings.TrimPrefix(info.Key, s.prefix), info.Size, info.LastModified)
	}
	return nil
}

// probePrefix holds the probe objects; one is written and removed by each
// probe.
const probePrefix = "probes/"

// Probe writes a small object, reads it back and removes it: the store is
// reachable, the bucket exists, and the keys may write and read.
func (s *Store) Probe(ctx context.Context) error {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	name := probePrefix + hex.EncodeToString(nonce[:])
	want := []byte("oci-connector probe " + time.Now().UTC().Format(time.RFC3339))
	if err := s.Put(ctx, name, bytes.NewReader(want), int64(len(want))); err != nil {
		return fmt.Errorf("writing a probe object to bucket %q: %w", s.bucket, err)
	}
	defer func() { _ = s.Remove(context.WithoutCancel(ctx), name) }()
	got, err := s.ReadAll(ctx, name)
	if err != nil {
		return fmt.Errorf("reading the probe object back from bucket %q: %w", s.bucket, err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("the probe object read back from bucket %q differs from what was written", s.bucket)
	}
	return nil
}
