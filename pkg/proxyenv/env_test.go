package proxyenv

import (
	"reflect"
	"slices"
	"testing"
)

// Every variable the controller writes is one Environment reads, by the
// same name, and the defaults agree.
func TestEnvironmentReadsWhatTheControllerWrites(t *testing.T) {
	var tags []string
	typ := reflect.TypeOf(Environment{})
	for i := range typ.NumField() {
		tags = append(tags, typ.Field(i).Tag.Get("envconfig"))
	}
	for _, name := range []string{ConnectorNamespace, ConnectorName, UpstreamAddress, Audience, Repository, Repositories,
		AcceptAPIServerTokens, BlobRedirects, UpstreamInsecureSkipVerify, CredentialsDir, Sink, AuditTokenFile, AuditURL, ForwardedHops,
		CacheStorage, CacheSize, CacheDir, CacheStagingDir, CacheS3Endpoint, CacheS3Region, CacheS3Bucket, CacheS3Prefix, CacheS3CredentialsDir} {
		if !slices.Contains(tags, name) {
			t.Errorf("Environment does not read %s", name)
		}
	}
	for field, want := range map[string]string{"CacheDir": DefaultCacheDir, "CacheS3CredentialsDir": DefaultCacheS3CredentialsDir} {
		if f, _ := typ.FieldByName(field); f.Tag.Get("default") != want {
			t.Errorf("the default of %s %q is not %q", field, f.Tag.Get("default"), want)
		}
	}
	if f, _ := typ.FieldByName("CredentialsDir"); f.Tag.Get("default") != DefaultCredentialsDir {
		t.Errorf("the default credentials directory %q is not DefaultCredentialsDir %q", f.Tag.Get("default"), DefaultCredentialsDir)
	}
}
