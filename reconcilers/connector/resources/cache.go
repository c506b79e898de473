package resources

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/proxyenv"
)

// CacheSecretDigestAnnotation on the revision template changes with the
// object store's Secret, so that new keys roll out as a new revision.
const CacheSecretDigestAnnotation = "oci-connector.dev/cache-secret-digest"

const (
	cacheVolume            = "cache"
	cacheStagingVolume     = "cache-staging"
	cacheCredentialsVolume = "cache-credentials"
)

// addCache wires spec.cache into the proxy's Service: the environment, an
// emptyDir of the cache's size (emptyDir storage) or the object store's
// Secret and a staging emptyDir (s3 storage). Nothing without a cache.
func addCache(ksvc *servingv1.Service, cache *v1alpha1.CacheSpec, cacheSecretDigest string) {
	if cache == nil {
		return
	}
	pod := &ksvc.Spec.Template.Spec.PodSpec
	proxy := &pod.Containers[0]
	env := []corev1.EnvVar{
		{Name: proxyenv.CacheStorage, Value: string(cache.Storage)},
		{Name: proxyenv.CacheSize, Value: cache.Size.String()},
	}
	switch cache.Storage {
	case v1alpha1.CacheStorageEmptyDir:
		env = append(env, corev1.EnvVar{Name: proxyenv.CacheDir, Value: proxyenv.DefaultCacheDir})
		proxy.VolumeMounts = append(proxy.VolumeMounts, corev1.VolumeMount{Name: cacheVolume, MountPath: proxyenv.DefaultCacheDir})
		// The kubelet evicts a pod whose emptyDir outgrows sizeLimit; the
		// proxy keeps its content below it (connector.CacheContentBound).
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: cacheVolume, VolumeSource: corev1.VolumeSource{
			EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(cache.Size.DeepCopy())},
		}})
	case v1alpha1.CacheStorageS3:
		env = append(env,
			corev1.EnvVar{Name: proxyenv.CacheS3Endpoint, Value: cache.Endpoint},
			corev1.EnvVar{Name: proxyenv.CacheS3Region, Value: cache.Region},
			corev1.EnvVar{Name: proxyenv.CacheS3Bucket, Value: cache.Bucket},
			corev1.EnvVar{Name: proxyenv.CacheS3Prefix, Value: cache.Prefix},
			corev1.EnvVar{Name: proxyenv.CacheS3CredentialsDir, Value: proxyenv.DefaultCacheS3CredentialsDir},
			corev1.EnvVar{Name: proxyenv.CacheStagingDir, Value: proxyenv.DefaultCacheStagingDir},
		)
		proxy.VolumeMounts = append(proxy.VolumeMounts,
			corev1.VolumeMount{Name: cacheCredentialsVolume, MountPath: proxyenv.DefaultCacheS3CredentialsDir, ReadOnly: true},
			corev1.VolumeMount{Name: cacheStagingVolume, MountPath: proxyenv.DefaultCacheStagingDir})
		pod.Volumes = append(pod.Volumes,
			corev1.Volume{Name: cacheCredentialsVolume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				// As the upstream's: readable by the proxy's nonroot user.
				// Optional: without it the proxy runs uncached (CacheReady
				// says why) rather than not at all.
				SecretName: cache.SecretRef.Name, DefaultMode: ptr.To(int32(0o444)), Optional: ptr.To(true),
			}}},
			corev1.Volume{Name: cacheStagingVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		ksvc.Spec.Template.Annotations[CacheSecretDigestAnnotation] = cacheSecretDigest
	}
	proxy.Env = append(proxy.Env, env...)
}
