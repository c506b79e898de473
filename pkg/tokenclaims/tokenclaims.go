// Package tokenclaims reads a ServiceAccount token's claims without
// verifying it: never to trust it (TokenReview does that), only to refuse
// early what cannot be valid, and to bound how long an answer about it is
// kept.
package tokenclaims

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// Claims are the claims oci-connector reads.
type Claims struct {
	Exp int64    `json:"exp"`
	Aud Audience `json:"aud"`
}

// Audience is a JWT aud claim: a string or a list of them.
type Audience []string

// UnmarshalJSON takes either form.
func (a *Audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = Audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

// Parse reads a JWT's payload; false when the token is not shaped like one.
func Parse(token string) (Claims, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Claims{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return Claims{}, false
	}
	var c Claims
	if json.Unmarshal(raw, &c) != nil {
		return Claims{}, false
	}
	return c, true
}

// Expiry is when the token expires; false when it says nothing.
func (c Claims) Expiry() (time.Time, bool) {
	if c.Exp == 0 {
		return time.Time{}, false
	}
	return time.Unix(c.Exp, 0), true
}
