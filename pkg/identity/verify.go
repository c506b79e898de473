package identity

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// ErrBadToken means the token is not valid here: forged, expired, for
// another audience, or refused by TokenReview.
var ErrBadToken = errors.New("the token was not accepted")

// ErrUnavailable means the answer cannot be had now (the API server or its
// keys are out of reach); the caller should retry.
var ErrUnavailable = errors.New("cannot check the token right now")

// signatureAlgorithms are those the API server may sign ServiceAccount
// tokens with (RSA or ECDSA keys).
var signatureAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512, jose.PS256, jose.PS384, jose.PS512,
}

// clockLeeway is the clock skew forgiven on exp and nbf, as the API
// server's own authenticator forgives.
const clockLeeway = 60 * time.Second

// Claims are the verified claims of a token that the callers read.
type Claims struct {
	Issuer   string
	Subject  string
	Audience []string
	Expiry   time.Time
}

// Verifier checks a token locally: the cluster signed it, for one of the
// audiences, and it has not expired.
type Verifier struct {
	keys KeySource
	now  func() time.Time
}

// NewVerifier checks tokens against keys.
func NewVerifier(keys KeySource) *Verifier {
	return &Verifier{keys: keys, now: time.Now}
}

// Verify returns the token's claims, or ErrBadToken (wrapped with why), or
// ErrUnavailable when the keys cannot be read. With no audiences, any
// audience passes here: TokenReview then checks the API server's own.
func (v *Verifier) Verify(ctx context.Context, token string, audiences []string) (Claims, error) {
	tok, err := jwt.ParseSigned(token, signatureAlgorithms)
	if err != nil || len(tok.Headers) != 1 {
		return Claims{}, fmt.Errorf("%w: not a signed JWT", ErrBadToken)
	}
	issuer, err := v.keys.Issuer(ctx)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	keys, err := v.keys.Keys(ctx, tok.Headers[0].KeyID)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	var claims jwt.Claims
	verified := false
	for _, key := range keys {
		if tok.Claims(key.Key, &claims) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return Claims{}, fmt.Errorf("%w: not signed by the cluster", ErrBadToken)
	}
	if err := claims.ValidateWithLeeway(jwt.Expected{Issuer: issuer, Time: v.now()}, clockLeeway); err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrBadToken, err)
	}
	if claims.Expiry == nil {
		return Claims{}, fmt.Errorf("%w: it never expires", ErrBadToken)
	}
	if len(audiences) > 0 && !slices.ContainsFunc(audiences, claims.Audience.Contains) {
		return Claims{}, fmt.Errorf("%w: its audience is %v, not %v", ErrBadToken, []string(claims.Audience), audiences)
	}
	return Claims{Issuer: claims.Issuer, Subject: claims.Subject, Audience: claims.Audience, Expiry: claims.Expiry.Time()}, nil
}
