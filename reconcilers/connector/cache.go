package connector

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrs "k8s.io/apimachinery/pkg/api/errors"
	"knative.dev/pkg/logging"
	"knative.dev/pkg/tracker"

	"go.uber.org/zap"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/objectstore"
)

// cacheProbeTimeout bounds one probe of a cache's object store.
const cacheProbeTimeout = 15 * time.Second

// checkCache sets CacheReady for spec.cache and returns the digest of the
// object store's Secret (s3 storage), which the proxy's revision carries.
// An emptyDir needs nothing outside the pod. A bucket is probed, writing
// and reading back an object with the Secret's keys, when the inputs
// change and at each re-check interval. A cache that is not ready never
// stops the proxy: it serves from the upstream.
func (r *Reconciler) checkCache(ctx context.Context, c *v1alpha1.Connector, spec *v1alpha1.ConnectorSpec) (string, error) {
	cache := spec.Cache
	switch {
	case cache == nil:
		c.Status.ClearCacheReady()
		return "", nil
	case cache.Storage != v1alpha1.CacheStorageS3:
		c.Status.MarkCacheReady()
		return "", nil
	}
	name := cache.SecretRef.Name
	if err := r.tracker.TrackReference(tracker.Reference{APIVersion: "v1", Kind: "Secret", Namespace: c.Namespace, Name: name}, c); err != nil {
		return "", fmt.Errorf("tracking Secret %q: %w", name, err)
	}
	secret, err := r.secretLister.Secrets(c.Namespace).Get(name)
	if apierrs.IsNotFound(err) {
		c.Status.MarkCacheNotReady(v1alpha1.ReasonCacheSecretNotFound,
			"Secret %q of the cache's object store not found in namespace %q; create it with the keys %s and %s. Pulls go to the upstream meanwhile.",
			name, c.Namespace, objectstore.KeyAccessKeyID, objectstore.KeySecretAccessKey)
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("reading Secret %q: %w", name, err)
	}
	for _, key := range []string{objectstore.KeyAccessKeyID, objectstore.KeySecretAccessKey} {
		if len(secret.Data[key]) == 0 {
			c.Status.MarkCacheNotReady(v1alpha1.ReasonCacheSecretKeyMissing,
				"Secret %q has no key %s for the cache's object store. Pulls go to the upstream meanwhile.", name, key)
			return "", nil
		}
	}
	digest := r.secretDigests.Of(secret)
	inputs := fmt.Sprintf("%d|%s", c.Generation, digest)
	now := r.clock.Now()
	err, cached := r.cacheChecks.Get(c.UID, inputs, now, r.settings.RecheckInterval)
	if !cached {
		err = probeBucket(ctx, cache, secret)
		r.cacheChecks.Put(c.UID, inputs, now, err)
		if err != nil {
			logging.FromContext(ctx).Warnw("The cache's object store failed its probe", zap.String("endpoint", cache.Endpoint), zap.Error(err))
		}
	}
	if err != nil {
		if prev := c.Status.GetCondition(v1alpha1.ConditionCacheReady); prev == nil || prev.Reason != v1alpha1.ReasonCacheUnavailable {
			controllerEvent(ctx, c, corev1.EventTypeWarning, v1alpha1.ReasonCacheUnavailable, "Cache object store %s: %v", cache.Endpoint, err)
		}
		c.Status.MarkCacheNotReady(v1alpha1.ReasonCacheUnavailable, "The cache's object store at %s, bucket %q: %v. Pulls go to the upstream meanwhile.",
			cache.Endpoint, cache.Bucket, err)
		return digest, nil
	}
	c.Status.MarkCacheReady()
	return digest, nil
}

// probeBucket writes, reads back and removes an object in the cache's
// bucket with the Secret's keys.
func probeBucket(ctx context.Context, cache *v1alpha1.CacheSpec, secret *corev1.Secret) error {
	store, err := objectstore.New(objectstore.Config{
		Endpoint: cache.Endpoint, Region: cache.Region, Bucket: cache.Bucket, Prefix: cache.Prefix,
		AccessKeyID: string(secret.Data[objectstore.KeyAccessKeyID]), SecretAccessKey: string(secret.Data[objectstore.KeySecretAccessKey]),
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cacheProbeTimeout)
	defer cancel()
	return store.Probe(ctx)
}
