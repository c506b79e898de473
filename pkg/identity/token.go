package identity

import (
	"errors"
	"net/http"
	"strings"
)

// ErrNoToken means the request carries no token in a form we read.
var ErrNoToken = errors.New("no token")

// Token reads a caller's token from r's Authorization header: the password
// of Basic (registry clients log in with any username and the token), or a
// Bearer token, the scheme in any case (RFC 9110 makes it case-insensitive).
func Token(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", ErrNoToken
	}
	if _, password, ok := r.BasicAuth(); ok {
		if password == "" {
			return "", ErrNoToken
		}
		return password, nil
	}
	scheme, token, ok := strings.Cut(h, " ")
	if token = strings.TrimSpace(token); ok && strings.EqualFold(scheme, "Bearer") && token != "" {
		return token, nil
	}
	return "", ErrNoToken
}
