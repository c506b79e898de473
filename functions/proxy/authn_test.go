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
