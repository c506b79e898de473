package v1alpha1

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"knative.dev/pkg/apis"

	"github.com/oci-connector/oci-connector/pkg/apis/connector"
)

// CacheStorage is emptyDir or s3; see CacheSpec.
type CacheStorage = connector.CacheStorage

const (
	// CacheStorageEmptyDir keeps each proxy replica's cache in an emptyDir.
	CacheStorageEmptyDir = connector.CacheStorageEmptyDir
	// CacheStorageS3 keeps one cache for every replica in a bucket.
	CacheStorageS3 = connector.CacheStorageS3
)

// CacheSpec is where and how much the proxy caches. The cache sits behind
// the proxy's authentication, RBAC and scope: it changes where bytes come
// from, never who may have them.
type CacheSpec struct {
	// Storage is emptyDir (each replica its own, on its node) or s3 (one
	// bucket that every replica shares, kept while the proxy is scaled to
	// zero).
	Storage CacheStorage `json:"storage"`
	// Size bounds the cached content, evicting the least recently used:
	// the emptyDir's sizeLimit too. 10Gi for emptyDir and 100Gi for s3 by
	// default.
	// +optional
	Size *resource.Quantity `json:"size,omitempty"`
	// Bucket, Prefix, Endpoint and Region say where in an S3-compatible
	// object store (s3 only). Endpoint is the store's URL, e.g.
	// https://s3.eu-west-1.amazonaws.com.
	// +optional
	Bucket string `json:"bucket,omitempty"`
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
	// +optional
	Region string `json:"region,omitempty"`
	// SecretRef names a Secret in the Connector's namespace with the keys
	// accessKeyID and secretAccessKey (s3 only). The proxy mounts it as it
	// mounts the upstream's.
	// +optional
	SecretRef *SecretReference `json:"secretRef,omitempty"`
}

// minCacheSize keeps a cache big enough to hold a few layers.
var minCacheSize = resource.MustParse("64Mi")

// bucketName is an S3 bucket name as AWS allows it.
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

func (c *CacheSpec) setDefaults() {
	if c.Size == nil {
		size := connector.DefaultEmptyDirCacheSize
		if c.Storage == CacheStorageS3 {
			size = connector.DefaultS3CacheSize
		}
		q := resource.MustParse(size)
		c.Size = &q
	}
}

// Validate checks a cache spec, naming the field at fault.
func (c *CacheSpec) Validate(context.Context) *apis.FieldError {
	var errs *apis.FieldError
	if c.Size != nil && c.Size.Cmp(minCacheSize) < 0 {
		errs = errs.Also(apis.ErrInvalidValue(c.Size.String(), "size", "the cache needs at least "+minCacheSize.String()))
	}
	s3Fields := map[string]bool{"bucket": c.Bucket != "", "prefix": c.Prefix != "", "endpoint": c.Endpoint != "", "region": c.Region != "", "secretRef": c.SecretRef != nil}
	switch c.Storage {
	case CacheStorageEmptyDir:
		for _, f := range []string{"bucket", "prefix", "endpoint", "region", "secretRef"} {
			if s3Fields[f] {
				errs = errs.Also(&apis.FieldError{Message: "only s3 storage has " + f, Paths: []string{f}})
			}
		}
	case CacheStorageS3:
		errs = errs.Also(c.validateS3())
	case "":
		errs = errs.Also(apis.ErrMissingField("storage"))
	default:
		errs = errs.Also(apis.ErrInvalidValue(c.Storage, "storage", "want emptyDir or s3"))
	}
	return errs
}

func (c *CacheSpec) validateS3() *apis.FieldError {
	var errs *apis.FieldError
	switch {
	case c.Bucket == "":
		errs = errs.Also(apis.ErrMissingField("bucket"))
	case !bucketName.MatchString(c.Bucket) || strings.Contains(c.Bucket, ".."):
		errs = errs.Also(apis.ErrInvalidValue(c.Bucket, "bucket", "an S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens"))
	}
	if c.Endpoint == "" {
		errs = errs.Also(apis.ErrMissingField("endpoint"))
	} else if u, err := url.Parse(c.Endpoint); err == nil && u.User != nil {
		// Never echoed: it holds a credential.
		errs = errs.Also(&apis.FieldError{Message: "the endpoint holds user information; put the keys in the Secret of secretRef", Paths: []string{"endpoint"}})
	} else if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") ||
		strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
		errs = errs.Also(apis.ErrInvalidValue(c.Endpoint, "endpoint", "an http(s) URL of the object store, with a host and nothing after it, e.g. https://s3.eu-west-1.amazonaws.com"))
	}
	for _, part := range strings.Split(strings.Trim(c.Prefix, "/"), "/") {
		if part == "." || part == ".." {
			errs = errs.Also(apis.ErrInvalidValue(c.Prefix, "prefix", "a path without . or .. in it"))
			break
		}
	}
	if len(c.Prefix) > 512 {
		errs = errs.Also(apis.ErrInvalidValue(fmt.Sprintf("%d characters", len(c.Prefix)), "prefix", "at most 512"))
	}
	if c.SecretRef == nil {
		errs = errs.Also(apis.ErrMissingField("secretRef"))
	} else if msgs := validation.IsDNS1123Subdomain(c.SecretRef.Name); len(msgs) > 0 {
		errs = errs.Also(apis.ErrInvalidValue(c.SecretRef.Name, "secretRef.name", strings.Join(msgs, "; ")))
	}
	return errs
}
