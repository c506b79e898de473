package main

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestTokenFrom(t *testing.T) {
	tests := []struct {
		header string
		want   string
		ok     bool
	}{
		{"", "", false},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("anyone:tok")), "tok", true},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("anyone:")), "", false},
		{"Bearer tok", "tok", true},
		{"bearer  tok ", "tok", true},
		{"Bearer ", "", false},
		{"Negotiate abc", "", false},
	}
	for _, tc := range tests {
		r, _ := http.NewRequest("GET", "/v2/", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		got, err := tokenFrom(r)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("tokenFrom(%q) = %q, %v; want %q ok=%v", tc.header, got, err, tc.want, tc.ok)
		}
	}
}

func jwtWithExp(exp time.Time) string {
	payload := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"exp":%d}`, exp.Unix())))
	return "e30." + payload + ".sig"
}

// A cached token answer never outlives the token.
func TestTokenCacheTTLIsBoundedByExpiry(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	a := &authenticator{now: func() time.Time { return now }}
	if got := a.ttlFor(jwtWithExp(now.Add(10 * time.Second))); got != 10*time.Second {
		t.Errorf("a token expiring in 10s is cached %s", got)
	}
	if got := a.ttlFor(jwtWithExp(now.Add(time.Hour))); got != tokenCacheTTL {
		t.Errorf("a long-lived token is cached %s, want the cap %s", got, tokenCacheTTL)
	}
	if got := a.ttlFor(jwtWithExp(now.Add(-time.Second))); got > 0 {
		t.Errorf("an expired token is cached %s", got)
	}
	if got := a.ttlFor("opaque"); got != tokenCacheTTL {
		t.Errorf("an opaque token is cached %s", got)
	}
}

// testJWT is a token shaped like a ServiceAccount JWT for aud, expiring in
// an hour; the fake TokenReview knows it by its subject.
func testJWT(aud, sub string) string {
	payload := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"aud":[%q],"sub":%q,"exp":%d}`, aud, sub, time.Now().Add(time.Hour).Unix())))
	return "e30." + payload + ".sig"
}

// The tokens of the handler tests: for the test proxy's audience.
var (
	goodToken     = testJWT(testAudience, "good")
	pushOnlyToken = testJWT(testAudience, "push-only")
	badToken      = testJWT(testAudience, "bad") // shaped right; TokenReview says no
)

const testAudience = "oci-connector.dev/ns/harbor"

// Tokens that cannot be for this proxy never reach TokenReview.
func TestTokensAreCheckedLocallyFirst(t *testing.T) {
	now := time.Now()
	a := &authenticator{audiences: []string{testAudience, "oci-connector.dev"}, now: func() time.Time { return now }}
	for _, tc := range []struct {
		name  string
		token string
		want  bool
	}{
		{"for this proxy", testJWT(testAudience, "x"), true},
		{"for the node audience it accepts", testJWT("oci-connector.dev", "x"), true},
		{"for another Connector", testJWT("oci-connector.dev/other/harbor", "x"), false},
		{"for the API server", testJWT("https://kubernetes.default.svc", "x"), false},
		{"expired", jwtWithExp(now.Add(-time.Minute)), false},
		{"not a JWT", "garbage", false},
		{"a payload that is not JSON", "e30.bm90IGpzb24.sig", false},
	} {
		if got := a.mayBeForUs(tc.token); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	a.acceptAPIServer = true
	if !a.mayBeForUs(testJWT("https://kubernetes.default.svc", "x")) {
		t.Error("with API server tokens accepted, their audience is left to TokenReview")
	}
}
