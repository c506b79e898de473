package resources_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/proxyenv"
	"github.com/oci-connector/oci-connector/reconcilers/connector/resources"
)

// Without spec.cache the proxy gets no cache setting and no volume beyond
// its credentials and audit token.
func TestNoCacheNoCacheWiring(t *testing.T) {
	c := testConnector()
	ksvc := resources.MakeService(c, c.Spec.WithDefaults(), resources.ServiceArgs{Image: "img"})
	for _, e := range ksvc.Spec.Template.Spec.Containers[0].Env {
		if e.Name == proxyenv.CacheStorage {
			t.Errorf("%s set without a cache", e.Name)
		}
	}
	if n := len(ksvc.Spec.Template.Spec.Volumes); n != 2 {
		t.Errorf("%d volumes without a cache, want 2", n)
	}
}

// An emptyDir cache is an emptyDir of the cache's size, where the proxy is
// told to keep it.
func TestAnEmptyDirCacheIsAVolumeOfItsSize(t *testing.T) {
	c := testConnector()
	c.Spec.Cache = &v1alpha1.CacheSpec{Storage: v1alpha1.CacheStorageEmptyDir, Size: ptr.To(resource.MustParse("2Gi"))}
	ksvc := resources.MakeService(c, c.Spec.WithDefaults(), resources.ServiceArgs{Image: "img"})
	env := envOf(ksvc.Spec.Template.Spec.Containers[0].Env)
	if env[proxyenv.CacheStorage] != "emptyDir" || env[proxyenv.CacheSize] != "2Gi" || env[proxyenv.CacheDir] != proxyenv.DefaultCacheDir {
		t.Errorf("cache environment %v", env)
	}
	var found bool
	for _, v := range ksvc.Spec.Template.Spec.Volumes {
		if v.EmptyDir != nil && v.EmptyDir.SizeLimit != nil && v.EmptyDir.SizeLimit.String() == "2Gi" {
			found = true
		}
	}
	if !found {
		t.Errorf("no emptyDir with sizeLimit 2Gi: %+v", ksvc.Spec.Template.Spec.Volumes)
	}
}

// An s3 cache mounts the object store's Secret read-only, says where the
// bucket is, and rolls a revision when the Secret changes.
func TestAnS3CacheMountsItsSecret(t *testing.T) {
	c := testConnector()
	c.Spec.Cache = &v1alpha1.CacheSpec{Storage: v1alpha1.CacheStorageS3, Bucket: "cache", Endpoint: "http://10.0.0.9:9000", Region: "r1", Prefix: "p",
		SecretRef: &v1alpha1.SecretReference{Name: "cache-keys"}}
	ksvc := resources.MakeService(c, c.Spec.WithDefaults(), resources.ServiceArgs{Image: "img", CacheSecretDigest: "k1"})
	env := envOf(ksvc.Spec.Template.Spec.Containers[0].Env)
	if env[proxyenv.CacheS3Bucket] != "cache" || env[proxyenv.CacheS3Endpoint] != "http://10.0.0.9:9000" || env[proxyenv.CacheS3Region] != "r1" ||
		env[proxyenv.CacheS3Prefix] != "p" || env[proxyenv.CacheSize] != "100Gi" || env[proxyenv.CacheS3CredentialsDir] != proxyenv.DefaultCacheS3CredentialsDir {
		t.Errorf("cache environment %v", env)
	}
	var secret bool
	for _, v := range ksvc.Spec.Template.Spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == "cache-keys" {
			secret = true
		}
	}
	var readOnly bool
	for _, m := range ksvc.Spec.Template.Spec.Containers[0].VolumeMounts {
		if m.MountPath == proxyenv.DefaultCacheS3CredentialsDir {
			readOnly = m.ReadOnly
		}
	}
	if !secret || !readOnly {
		t.Errorf("the Secret is not mounted read-only: volume %v, read-only %v", secret, readOnly)
	}
	if got := ksvc.Spec.Template.Annotations[resources.CacheSecretDigestAnnotation]; got != "k1" {
		t.Errorf("cache secret digest annotation %q", got)
	}
	for _, e := range ksvc.Spec.Template.Spec.Containers[0].Env {
		if e.ValueFrom != nil {
			t.Errorf("%s comes from a reference: keys belong in the mounted Secret only", e.Name)
		}
	}
}

func envOf(vars []corev1.EnvVar) map[string]string {
	env := map[string]string{}
	for _, e := range vars {
		env[e.Name] = e.Value
	}
	return env
}
