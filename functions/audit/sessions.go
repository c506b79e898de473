package main

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/cache"

	"github.com/oci-connector/oci-connector/pkg/tokenclaims"
)

// The page's login: the reader's token stays on the server, in a session
// whose random ID is the only thing the browser holds. A session ends when
// the token expires or after sessionTTL, whichever comes first. The login
// form carries a CSRF token that must match a cookie of its own (the
// double-submit pattern), so no other site can log a reader in as someone
// else.
const (
	// SessionCookie carries a reader's session ID.
	SessionCookie = "oci-connector-session"
	// csrfCookie carries the login form's CSRF token.
	csrfCookie  = "oci-connector-csrf"
	csrfField   = "csrf"
	sessionTTL  = 8 * time.Hour
	maxSessions = 10000
)

// sessions maps session IDs to the tokens they stand for.
type sessions struct {
	byID *cache.LRUExpireCache
	now  func() time.Time
}

func newSessions() *sessions {
	return &sessions{byID: cache.NewLRUExpireCache(maxSessions), now: time.Now}
}

// token is the token of r's session; empty without one.
func (s *sessions) token(r *http.Request) string {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return ""
	}
	v, ok := s.byID.Get(c.Value)
	if !ok {
		return ""
	}
	return v.(string)
}

// start opens a session for token, which has been authenticated, and
// sets its cookie on w.
func (s *sessions) start(w http.ResponseWriter, r *http.Request, token string) {
	ttl := sessionTTL
	// The token was authenticated at login: its exp bounds the session.
	if exp, ok := expiryOf(token); ok {
		ttl = min(ttl, exp.Sub(s.now()))
	}
	if ttl <= 0 {
		return
	}
	id := randomString()
	s.byID.Add(id, token, ttl)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", MaxAge: int(ttl / time.Second),
		HttpOnly: true, Secure: isHTTPS(r), SameSite: http.SameSiteStrictMode})
}

// csrfToken is the login form's CSRF token: the cookie's, set on w when r
// has none.
func csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	v := randomString()
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: "/", HttpOnly: true, Secure: isHTTPS(r), SameSite: http.SameSiteStrictMode})
	return v
}

// csrfValid says whether r's form carries its cookie's CSRF token.
func csrfValid(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || len(c.Value) < 32 {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue(csrfField))) == 1
}

// isHTTPS says whether the reader's browser used HTTPS: to this server, or
// to an ingress that ended TLS and said so (a forged header can only make
// the cookie stricter).
func isHTTPS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func expiryOf(token string) (time.Time, bool) {
	c, _ := tokenclaims.Parse(token)
	return c.Expiry()
}

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails (Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}
