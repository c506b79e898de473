package v1alpha1

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	"github.com/oci-connector/oci-connector/pkg/apis/config"
)

func validConnector() *Connector {
	c := &Connector{Spec: ConnectorSpec{
		Address: "https://harbor.example.com",
		Auth: ConnectorAuth{
			SecretRef: &SecretReference{Name: "harbor-secret"},
			Params:    []Param{{Name: "repository", Value: "testing/busybox"}},
		},
		Repositories: []RepositoryAccess{{Path: "team-a/*", Access: []Verb{VerbPull, VerbPush}}},
		PullSecrets:  &PullSecretsSpec{ServiceAccounts: []string{"*"}},
	}}
	c.SetDefaults(context.Background())
	return c
}

func s3Cache() *CacheSpec {
	return &CacheSpec{Storage: CacheStorageS3, Bucket: "registry-cache", Prefix: "team-a", Endpoint: "https://s3.eu-west-1.amazonaws.com",
		Region: "eu-west-1", SecretRef: &SecretReference{Name: "cache-keys"}}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Connector)
		// wantPaths are field paths that must appear in the error; none means valid.
		wantPaths []string
		// notInError must not appear in the error text (credentials).
		notInError string
	}{
		{name: "the DESIGN example is valid", mutate: func(*Connector) {}},
		{name: "plain http with a port is valid", mutate: func(c *Connector) { c.Spec.Address = "http://127.0.0.1:5000" }},
		{name: "a dotted name of 63 characters is valid", mutate: func(c *Connector) { c.Name = strings.Repeat("registry.", 7)[:62] + "z" }},
		{name: "a name of 64 characters is refused", mutate: func(c *Connector) { c.Name = strings.Repeat("a", 64) }, wantPaths: []string{"metadata.name"}},
		{name: "a sink ref by group alone is valid", mutate: func(c *Connector) {
			c.Spec.Sink = &duckv1.Destination{Ref: &duckv1.KReference{Group: "eventing.knative.dev", Kind: "Broker", Name: "default"}}
		}},
		{name: "a sink ref with neither apiVersion nor group", mutate: func(c *Connector) {
			c.Spec.Sink = &duckv1.Destination{Ref: &duckv1.KReference{Kind: "Broker", Name: "default"}}
		}, wantPaths: []string{"spec.sink.ref.apiVersion", "spec.sink.ref.group"}},
		{name: "another class", mutate: func(c *Connector) { c.Spec.ConnectorClassName = "git" }, wantPaths: []string{"spec.connectorClassName"}},
		{name: "blob redirects passed is valid", mutate: func(c *Connector) { c.Spec.Proxy.BlobRedirects = BlobRedirectsPass }},
		{name: "blob redirects of another kind", mutate: func(c *Connector) { c.Spec.Proxy.BlobRedirects = "proxy" }, wantPaths: []string{"spec.proxy.blobRedirects"}},
		{name: "an emptyDir cache is valid", mutate: func(c *Connector) { c.Spec.Cache = &CacheSpec{Storage: CacheStorageEmptyDir} }},
		{name: "an s3 cache is valid", mutate: func(c *Connector) { c.Spec.Cache = s3Cache() }},
		{name: "a cache without storage", mutate: func(c *Connector) { c.Spec.Cache = &CacheSpec{} }, wantPaths: []string{"spec.cache.storage"}},
		{name: "a cache of another storage", mutate: func(c *Connector) { c.Spec.Cache = &CacheSpec{Storage: "hostPath"} }, wantPaths: []string{"spec.cache.storage"}},
		{name: "a cache too small", mutate: func(c *Connector) {
			c.Spec.Cache = &CacheSpec{Storage: CacheStorageEmptyDir, Size: ptr.To(resource.MustParse("1Mi"))}
		}, wantPaths: []string{"spec.cache.size"}},
		{name: "an emptyDir cache with a bucket", mutate: func(c *Connector) {
			c.Spec.Cache = &CacheSpec{Storage: CacheStorageEmptyDir, Bucket: "cache", SecretRef: &SecretReference{Name: "s3"}}
		}, wantPaths: []string{"spec.cache.bucket", "spec.cache.secretRef"}},
		{name: "an s3 cache without bucket, endpoint or keys", mutate: func(c *Connector) {
			c.Spec.Cache = &CacheSpec{Storage: CacheStorageS3}
		}, wantPaths: []string{"spec.cache.bucket", "spec.cache.endpoint", "spec.cache.secretRef"}},
		{name: "an s3 cache with a bad bucket name", mutate: func(c *Connector) { c.Spec.Cache = s3Cache(); c.Spec.Cache.Bucket = "Cache_Bucket" }, wantPaths: []string{"spec.cache.bucket"}},
		{
			name: "an s3 endpoint with keys in it is refused without echoing them",
			mutate: func(c *Connector) {
				c.Spec.Cache = s3Cache()
				c.Spec.Cache.Endpoint = "https://AKID:hunter2@s3.example.com"
			},
			wantPaths:  []string{"spec.cache.endpoint"},
			notInError: "hunter2",
		},
		{name: "an s3 endpoint with a path", mutate: func(c *Connector) { c.Spec.Cache = s3Cache(); c.Spec.Cache.Endpoint = "https://s3.example.com/bucket" }, wantPaths: []string{"spec.cache.endpoint"}},
		{name: "an s3 prefix that climbs", mutate: func(c *Connector) { c.Spec.Cache = s3Cache(); c.Spec.Cache.Prefix = "team/../other" }, wantPaths: []string{"spec.cache.prefix"}},
		{name: "an s3 secretRef with a bad name", mutate: func(c *Connector) { c.Spec.Cache = s3Cache(); c.Spec.Cache.SecretRef.Name = "Not A Name" }, wantPaths: []string{"spec.cache.secretRef.name"}},
		{name: "missing address", mutate: func(c *Connector) { c.Spec.Address = "" }, wantPaths: []string{"spec.address"}},
		{name: "address without scheme", mutate: func(c *Connector) { c.Spec.Address = "harbor.example.com" }, wantPaths: []string{"spec.address"}},
		{name: "ftp address", mutate: func(c *Connector) { c.Spec.Address = "ftp://harbor.example.com" }, wantPaths: []string{"spec.address"}},
		{name: "address without host", mutate: func(c *Connector) { c.Spec.Address = "https://" }, wantPaths: []string{"spec.address"}},
		{
			name:       "user info in the address is refused without echoing it",
			mutate:     func(c *Connector) { c.Spec.Address = "https://robot:hunter2@harbor.example.com" },
			wantPaths:  []string{"spec.address"},
			notInError: "hunter2",
		},
		{name: "address with a path", mutate: func(c *Connector) { c.Spec.Address = "https://harbor.example.com/v2/team" }, wantPaths: []string{"spec.address"}},
		{name: "unknown auth method", mutate: func(c *Connector) { c.Spec.Auth.Name = "oauth" }, wantPaths: []string{"spec.auth.name"}},
		{name: "secretRef missing", mutate: func(c *Connector) { c.Spec.Auth.SecretRef = nil }, wantPaths: []string{"spec.auth.secretRef"}},
		{name: "secretRef without a name", mutate: func(c *Connector) { c.Spec.Auth.SecretRef.Name = "" }, wantPaths: []string{"spec.auth.secretRef.name"}},
		{name: "secretRef name not a DNS name", mutate: func(c *Connector) { c.Spec.Auth.SecretRef.Name = "Bad_Name" }, wantPaths: []string{"spec.auth.secretRef.name"}},
		{name: "unknown param", mutate: func(c *Connector) { c.Spec.Auth.Params[0].Name = "project" }, wantPaths: []string{"spec.auth.params[0].name"}},
		{name: "param without a name", mutate: func(c *Connector) { c.Spec.Auth.Params[0].Name = "" }, wantPaths: []string{"spec.auth.params[0].name"}},
		{
			name:      "repeated param",
			mutate:    func(c *Connector) { c.Spec.Auth.Params = append(c.Spec.Auth.Params, c.Spec.Auth.Params[0]) },
			wantPaths: []string{"spec.auth.params[1].name"},
		},
		{name: "repository glob with uppercase", mutate: func(c *Connector) { c.Spec.Auth.Params[0].Value = "Team/*" }, wantPaths: []string{"spec.auth.params[0].value"}},
		{name: "malformed glob", mutate: func(c *Connector) { c.Spec.Auth.Params[0].Value = "team/[a" }, wantPaths: []string{"spec.auth.params[0].value"}},
		{name: "repository without access", mutate: func(c *Connector) { c.Spec.Repositories[0].Access = nil }, wantPaths: []string{"spec.repositories[0].access"}},
		{name: "repository with an unknown verb", mutate: func(c *Connector) { c.Spec.Repositories[0].Access = []Verb{"delete"} }, wantPaths: []string{"spec.repositories[0].access[0]"}},
		{name: "repository without a path", mutate: func(c *Connector) { c.Spec.Repositories[0].Path = "" }, wantPaths: []string{"spec.repositories[0].path"}},
		{name: "negative minScale", mutate: func(c *Connector) { c.Spec.Proxy.MinScale = ptr.To(int32(-1)) }, wantPaths: []string{"spec.proxy.minScale"}},
		{name: "minScale above maxScale", mutate: func(c *Connector) { c.Spec.Proxy.MinScale = ptr.To(int32(20)) }, wantPaths: []string{"spec.proxy.minScale", "spec.proxy.maxScale"}},
		{name: "zero target concurrency", mutate: func(c *Connector) { c.Spec.Proxy.TargetConcurrency = ptr.To(int32(0)) }, wantPaths: []string{"spec.proxy.targetConcurrency"}},
		{name: "token TTL too short", mutate: func(c *Connector) { c.Spec.PullSecrets.TokenTTL = &metav1.Duration{Duration: time.Minute} }, wantPaths: []string{"spec.pullSecrets.tokenTTL"}},
		{
			name:      "refreshBefore not shorter than tokenTTL",
			mutate:    func(c *Connector) { c.Spec.PullSecrets.RefreshBefore = &metav1.Duration{Duration: 2 * time.Hour} },
			wantPaths: []string{"spec.pullSecrets.refreshBefore"},
		},
		{name: "bad ServiceAccount name", mutate: func(c *Connector) { c.Spec.PullSecrets.ServiceAccounts = []string{"Not Valid"} }, wantPaths: []string{"spec.pullSecrets.serviceAccounts[0]"}},
		{
			name: "every problem is reported at once",
			mutate: func(c *Connector) {
				c.Spec.Address = ""
				c.Spec.Auth.SecretRef = nil
			},
			wantPaths: []string{"spec.address", "spec.auth.secretRef"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConnector()
			tc.mutate(c)
			err := c.Validate(context.Background())
			if len(tc.wantPaths) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want valid", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors at %v", tc.wantPaths)
			}
			got := err.Error()
			for _, p := range tc.wantPaths {
				if !strings.Contains(got, p) {
					t.Errorf("error %q does not name %s", got, p)
				}
			}
			if tc.notInError != "" && strings.Contains(got, tc.notInError) {
				t.Errorf("error %q echoes %q", got, tc.notInError)
			}
		})
	}
}

func TestSetDefaults(t *testing.T) {
	c := &Connector{Spec: ConnectorSpec{
		Address:     "https://harbor.example.com",
		Auth:        ConnectorAuth{SecretRef: &SecretReference{Name: "s"}},
		PullSecrets: &PullSecretsSpec{},
	}}
	c.SetDefaults(context.Background())
	s := c.Spec
	if s.ConnectorClassName != "oci" || s.Auth.Name != AuthBasic {
		t.Errorf("class/auth = %q/%q", s.ConnectorClassName, s.Auth.Name)
	}
	if *s.Proxy.MinScale != 1 || *s.Proxy.MaxScale != 10 || *s.Proxy.TargetConcurrency != 100 || s.Proxy.Audience != "" || s.Proxy.BlobRedirects != BlobRedirectsFollow {
		t.Errorf("proxy defaults = %+v", s.Proxy)
	}
	if got := s.PullSecrets; got.ServiceAccounts[0] != "default" || got.RefreshBefore.Duration != 15*time.Minute || got.TokenTTL.Duration != time.Hour {
		t.Errorf("pullSecrets defaults = %+v", got)
	}
	if err := c.Validate(context.Background()); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}

	// A minScale above the default maxScale raises maxScale with it.
	c = &Connector{Spec: ConnectorSpec{Proxy: ProxySpec{MinScale: ptr.To(int32(12))}}}
	c.SetDefaults(context.Background())
	if *c.Spec.Proxy.MaxScale != 12 {
		t.Errorf("maxScale = %d, want 12", *c.Spec.Proxy.MaxScale)
	}
}

// Only a cluster Connector may select other namespaces for pull secrets.
func TestValidateTenancy(t *testing.T) {
	tenancy := &config.Config{Tenancy: &config.Tenancy{ClusterNamespaces: []string{"platform"}}}
	withSelector := func(ns string, selector *metav1.LabelSelector) *Connector {
		c := validConnector()
		c.Namespace = ns
		c.Spec.PullSecrets = &PullSecretsSpec{NamespaceSelector: selector}
		return c
	}
	everything := &metav1.LabelSelector{}
	home := &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "team-a"}}
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		c       *Connector
		refused bool
	}{
		{"a namespaced Connector selecting every namespace", config.ToContext(context.Background(), tenancy), withSelector("team-a", everything), true},
		{"a namespaced Connector selecting its own namespace", config.ToContext(context.Background(), tenancy), withSelector("team-a", home), false},
		{"a namespaced Connector without a selector", config.ToContext(context.Background(), tenancy), withSelector("team-a", nil), false},
		{"a cluster Connector selecting every namespace", config.ToContext(context.Background(), tenancy), withSelector("platform", everything), false},
		{"no trust Config to check against", context.Background(), withSelector("team-a", everything), false},
		// After config-oci-connector changed: the controller can still write
		// the status, and the owner can keep the selector while editing.
		{"a status update", apis.WithinSubResourceUpdate(config.ToContext(context.Background(), tenancy), withSelector("team-a", everything), "status"),
			withSelector("team-a", everything), false},
		{"an update keeping the selector", apis.WithinUpdate(config.ToContext(context.Background(), tenancy), withSelector("team-a", everything)),
			withSelector("team-a", everything), false},
		{"an update widening the selector", apis.WithinUpdate(config.ToContext(context.Background(), tenancy), withSelector("team-a", home)),
			withSelector("team-a", everything), true},
	} {
		err := tc.c.Validate(tc.ctx)
		if refused := err != nil && strings.Contains(err.Error(), "spec.pullSecrets.namespaceSelector"); refused != tc.refused {
			t.Errorf("%s: %v, want refused %v", tc.name, err, tc.refused)
		}
	}
}
