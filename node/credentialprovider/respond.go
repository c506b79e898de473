package main

import (
	"encoding/json"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	credentialproviderv1 "k8s.io/kubelet/pkg/apis/credentialprovider/v1"

	"github.com/oci-connector/oci-connector/pkg/clientconfig"
	"github.com/oci-connector/oci-connector/pkg/imageref"
	"github.com/oci-connector/oci-connector/pkg/tokenclaims"
)

const (
	// maxRequestBytes bounds what is read of a request.
	maxRequestBytes = 1 << 20
	// maxCacheDuration caps how long the kubelet keeps an answer, however
	// long the token lives.
	maxCacheDuration = time.Hour
)

// nowFunc is time.Now; tests fix it.
var nowFunc = time.Now

var apiVersion = credentialproviderv1.SchemeGroupVersion.String()

// respond answers one CredentialProviderRequest. With a token, the auth is
// for the image's registry (the proxy), cached no longer than the token
// lives; without one, it is empty, so other providers still apply.
func respond(raw []byte, now time.Time) ([]byte, error) {
	var req credentialproviderv1.CredentialProviderRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return nil, fmt.Errorf("the request is not JSON: %w", err)
	}
	if req.APIVersion != apiVersion || req.Kind != "CredentialProviderRequest" {
		return nil, fmt.Errorf("want a %s CredentialProviderRequest, got %s %s", apiVersion, req.APIVersion, req.Kind)
	}
	resp := credentialproviderv1.CredentialProviderResponse{
		TypeMeta:      metav1.TypeMeta{APIVersion: apiVersion, Kind: "CredentialProviderResponse"},
		CacheKeyType:  credentialproviderv1.RegistryPluginCacheKeyType,
		CacheDuration: &metav1.Duration{},
	}
	host, ok := imageref.Registry(req.Image)
	// The token's exp is read, not verified: the proxy verifies the token;
	// this only bounds how long the kubelet keeps the answer.
	claims, _ := tokenclaims.Parse(req.ServiceAccountToken)
	expires, hasExpiry := claims.Expiry()
	if req.ServiceAccountToken != "" && ok && (!hasExpiry || expires.After(now)) {
		ttl := maxCacheDuration
		if hasExpiry {
			ttl = min(ttl, expires.Sub(now))
		}
		resp.CacheDuration.Duration = ttl
		resp.Auth = map[string]credentialproviderv1.AuthConfig{
			host: {Username: clientconfig.Username, Password: req.ServiceAccountToken},
		}
	}
	return json.Marshal(resp)
}
