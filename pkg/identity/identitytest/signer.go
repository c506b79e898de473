// Package identitytest signs ServiceAccount-shaped tokens with a key of its
// own, and gives the key set that verifies them: for unit tests of what
// uses package identity. Tests on the real API server use its own tokens.
package identitytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/oci-connector/oci-connector/pkg/identity"
)

// Issuer is the iss of the tokens a Signer makes.
const Issuer = "https://kubernetes.default.svc.cluster.local"

// Signer makes tokens its Keys verify.
type Signer struct {
	key    *ecdsa.PrivateKey
	signer jose.Signer
}

// NewSigner makes a Signer with a fresh key.
func NewSigner() *Signer {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "test"}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		panic(err)
	}
	return &Signer{key: key, signer: signer}
}

// Keys verify the Signer's tokens.
func (s *Signer) Keys() identity.StaticKeys {
	return identity.StaticKeys{IssuerURL: Issuer, Set: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &s.key.PublicKey, KeyID: "test", Algorithm: string(jose.ES256), Use: "sig"}}}}
}

// Token is a token for audience whose subject is sub, expiring at exp.
func (s *Signer) Token(audience, sub string, exp time.Time) string {
	tok, err := jwt.Signed(s.signer).Claims(jwt.Claims{
		Issuer: Issuer, Subject: sub, Audience: jwt.Audience{audience},
		Expiry: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(exp.Add(-time.Hour)),
	}).Serialize()
	if err != nil {
		panic(err)
	}
	return tok
}
