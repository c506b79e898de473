package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	credentialproviderv1 "k8s.io/kubelet/pkg/apis/credentialprovider/v1"
)

func jwtExpiring(at time.Time) string {
	payload := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"aud":["oci-connector.dev"],"exp":%d}`, at.Unix())))
	return "e30." + payload + ".sig"
}

// request is what the kubelet sends, written with its own API types.
func request(t *testing.T, image, token string) []byte {
	t.Helper()
	raw, err := json.Marshal(credentialproviderv1.CredentialProviderRequest{
		TypeMeta:                  metav1.TypeMeta{APIVersion: apiVersion, Kind: "CredentialProviderRequest"},
		Image:                     image,
		ServiceAccountToken:       token,
		ServiceAccountAnnotations: map[string]string{"example.com/team": "a"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// decode reads an answer as the kubelet does, strictly, into its API type.
func decode(t *testing.T, raw []byte) credentialproviderv1.CredentialProviderResponse {
	t.Helper()
	var resp credentialproviderv1.CredentialProviderResponse
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&resp); err != nil {
		t.Fatalf("the kubelet's types do not read %s: %v", raw, err)
	}
	if resp.APIVersion != apiVersion || resp.Kind != "CredentialProviderResponse" {
		t.Errorf("answer %s %s", resp.APIVersion, resp.Kind)
	}
	return resp
}

func TestTheTokenIsThePasswordForTheProxy(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, image, token string
		wantHost           string // "" for an empty auth
		wantCache          time.Duration
	}{
		{"a token for 10 minutes", "c-harbor.oci-connector.example.com/team/app:v1", jwtExpiring(now.Add(10 * time.Minute)), "c-harbor.oci-connector.example.com", 10 * time.Minute},
		{"a port in the host", "127.0.0.1:5000/team/app@sha256:" + strings.Repeat("a", 64), jwtExpiring(now.Add(2 * time.Hour)), "127.0.0.1:5000", maxCacheDuration},
		{"no token: other providers apply", "c-harbor.oci-connector.example.com/team/app:v1", "", "", 0},
		{"an expired token", "c-harbor.oci-connector.example.com/team/app:v1", jwtExpiring(now.Add(-time.Minute)), "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := respond(request(t, tc.image, tc.token), now)
			if err != nil {
				t.Fatal(err)
			}
			resp := decode(t, raw)
			if resp.CacheKeyType != credentialproviderv1.RegistryPluginCacheKeyType || resp.CacheDuration == nil || resp.CacheDuration.Duration != tc.wantCache {
				t.Errorf("cache %s for %v, want %s", resp.CacheKeyType, resp.CacheDuration, tc.wantCache)
			}
			if tc.wantHost == "" {
				if len(resp.Auth) != 0 {
					t.Errorf("auth %v, want none", resp.Auth)
				}
				return
			}
			auth, ok := resp.Auth[tc.wantHost]
			if len(resp.Auth) != 1 || !ok || auth.Password != tc.token || auth.Username == "" {
				t.Errorf("auth %v, want the token for %s", resp.Auth, tc.wantHost)
			}
		})
	}
}

func TestRequestsThatAreNotTheKubeletsAreRefused(t *testing.T) {
	for name, raw := range map[string]string{
		"not JSON":            "image=x",
		"another kind":        `{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderResponse"}`,
		"another version":     `{"apiVersion":"credentialprovider.kubelet.k8s.io/v1alpha1","kind":"CredentialProviderRequest","image":"x"}`,
		"no type meta at all": `{"image":"x"}`,
	} {
		if _, err := respond([]byte(raw), time.Now()); err == nil {
			t.Errorf("%s: answered", name)
		}
	}
}
