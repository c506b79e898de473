package main

import (
	"context"
	"flag"
	"fmt"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/oci-connector/oci-connector/functions/proxy/blobcache"
	"github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/objectstore"
	"github.com/oci-connector/oci-connector/pkg/proxyenv"
)

// cacheConfig is spec.cache as the proxy gets it.
type cacheConfig struct {
	storage          string
	size             string
	dir              string
	stagingDir       string
	s3               objectstore.Config
	s3CredentialsDir string
}

func (c *cacheConfig) flags(fs *flag.FlagSet, env proxyenv.Environment) {
	fs.StringVar(&c.storage, "cache-storage", env.CacheStorage, "keep a cache of manifests and blobs: emptyDir (in --cache-dir) or s3; none when empty ($CACHE_STORAGE)")
	fs.StringVar(&c.size, "cache-size", env.CacheSize, "the cache's size, a Kubernetes quantity such as 10Gi ($CACHE_SIZE)")
	fs.StringVar(&c.dir, "cache-dir", env.CacheDir, "the directory of an emptyDir cache ($CACHE_DIR)")
	fs.StringVar(&c.stagingDir, "cache-staging-dir", env.CacheStagingDir, "where blobs are written and verified before they enter the cache ($CACHE_STAGING_DIR)")
	fs.StringVar(&c.s3.Endpoint, "cache-s3-endpoint", env.CacheS3Endpoint, "the object store's URL ($CACHE_S3_ENDPOINT)")
	fs.StringVar(&c.s3.Region, "cache-s3-region", env.CacheS3Region, "the object store's region ($CACHE_S3_REGION)")
	fs.StringVar(&c.s3.Bucket, "cache-s3-bucket", env.CacheS3Bucket, "the bucket ($CACHE_S3_BUCKET)")
	fs.StringVar(&c.s3.Prefix, "cache-s3-prefix", env.CacheS3Prefix, "prefix of the cache's objects in the bucket ($CACHE_S3_PREFIX)")
	fs.StringVar(&c.s3CredentialsDir, "cache-s3-credentials-dir", env.CacheS3CredentialsDir, "the mounted Secret with accessKeyID and secretAccessKey ($CACHE_S3_CREDENTIALS_DIR)")
}

// open opens the cache the config asks for; nil without one, or when it
// cannot be opened (logged). Only settings that make no sense are errors.
func (c *cacheConfig) open(ctx context.Context, logger *zap.SugaredLogger) (*blobcache.Cache, error) {
	storage := connector.CacheStorage(c.storage)
	size := c.size
	switch storage {
	case "":
		return nil, nil
	case connector.CacheStorageEmptyDir:
		if size == "" {
			size = connector.DefaultEmptyDirCacheSize
		}
	case connector.CacheStorageS3:
		if size == "" {
			size = connector.DefaultS3CacheSize
		}
	default:
		return nil, fmt.Errorf("--cache-storage %q: want emptyDir or s3", c.storage)
	}
	q, err := resource.ParseQuantity(size)
	if err != nil || q.Value() <= 0 {
		return nil, fmt.Errorf("--cache-size %q: want a positive quantity such as 10Gi", size)
	}
	o := blobcache.Options{StagingDir: c.stagingDir, Bound: connector.CacheContentBound(storage, q.Value()), Logger: logger.With("cache", c.storage)}
	cache, err := c.openStorage(ctx, storage, o)
	if err != nil {
		// A cache that cannot open must not stop the proxy: it serves
		// from the upstream, as with the cache's store down.
		logger.Errorw("The cache is off: it could not be opened; pulls go to the upstream", zap.Error(err))
		return nil, nil
	}
	return cache, nil
}

func (c *cacheConfig) openStorage(ctx context.Context, storage connector.CacheStorage, o blobcache.Options) (*blobcache.Cache, error) {
	if storage == connector.CacheStorageEmptyDir {
		o.Dir = c.dir
		return blobcache.New(ctx, o)
	}
	if err := c.s3.ReadCredentials(c.s3CredentialsDir); err != nil {
		return nil, err
	}
	bucket, err := objectstore.New(c.s3)
	if err != nil {
		return nil, err
	}
	o.Bucket = bucket
	return blobcache.New(ctx, o)
}
