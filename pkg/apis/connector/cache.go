package connector

// CacheStorage is where a Connector's proxy keeps its cache (spec.cache).
type CacheStorage string

const (
	// CacheStorageEmptyDir keeps the cache on the proxy pod's node, in an
	// emptyDir of the cache's size: each replica has its own, and it goes
	// with the pod.
	CacheStorageEmptyDir CacheStorage = "emptyDir"
	// CacheStorageS3 keeps it in an S3-compatible bucket that every
	// replica shares, and that outlives a proxy scaled to zero.
	CacheStorageS3 CacheStorage = "s3"
)

// The cache's size when spec.cache.size is unset.
const (
	DefaultEmptyDirCacheSize = "10Gi"
	DefaultS3CacheSize       = "100Gi"
)

// cacheRecordsHeadroom bounds what an emptyDir cache keeps for its small
// records (links and tags) beside its content.
const cacheRecordsHeadroom = 256 << 20

// CacheContentBound is how many bytes of content a cache of size holds.
// In a bucket, all of size. In an emptyDir, whose sizeLimit the kubelet
// enforces by evicting the pod, a twentieth (at most 256 MiB) is left for
// the cache's records.
func CacheContentBound(storage CacheStorage, size int64) int64 {
	if storage != CacheStorageEmptyDir {
		return size
	}
	return size - min(size/20, cacheRecordsHeadroom)
}
