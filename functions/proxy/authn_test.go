package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oci-connector/oci-connector/pkg/identity"
	"github.com/oci-connector/oci-connector/pkg/identity/identitytest"
)

// testSigner signs the tokens of the proxy's unit tests; their proxies
// verify with its keys, as a real one does with the cluster's.
var testSigner = identitytest.NewSigner()

// testJWT is a signed token for aud whose subject is sub, expiring in an
// hour; the fake TokenReview knows it by its value.
func testJWT(aud, sub string) string {
	return testSigner.Token(aud, sub, time.Now().Add(time.Hour))
}

// The tokens of the handler tests: for the test proxy's audience.
var (
	goodToken     = testJWT(testAudience, "good")
	pushOnlyToken = testJWT(testAudience, "push-only")
	badToken      = testJWT(testAudience, "bad") // signed; TokenReview says no
)

const testAudience = "oci-connector.dev/ns/harbor"

// Tokens that cannot be for this proxy (forged, another audience, expired)
// never reach TokenReview, with or without API server tokens accepted.
func TestTokensAreCheckedLocallyFirst(t *testing.T) {
	stranger := identitytest.NewSigner()
	for _, tc := range []struct {
		name      string
		token     string
		apiServer bool
		want      error
		reviews   int32
	}{
		{"for this proxy", testJWT(testAudience, "good"), false, nil, 1},
		{"for the node audience it accepts", testJWT("oci-connector.dev", "good"), false, nil, 1},
		{"for another Connector", testJWT("oci-connector.dev/other/harbor", "good"), false, identity.ErrBadToken, 0},
		{"for the API server, not accepted", testJWT("https://kubernetes.default.svc", "good"), false, identity.ErrBadToken, 0},
		{"for the API server, accepted: TokenReview decides", testJWT("https://kubernetes.default.svc", "good"), true, nil, 1},
		{"forged with the right audience", stranger.Token(testAudience, "good", time.Now().Add(time.Hour)), false, identity.ErrBadToken, 0},
		{"forged, API server tokens accepted", stranger.Token(testAudience, "good", time.Now().Add(time.Hour)), true, identity.ErrBadToken, 0},
		{"expired", testSigner.Token(testAudience, "good", time.Now().Add(-5*time.Minute)), false, identity.ErrBadToken, 0},
		{"not a JWT", "garbage", false, identity.ErrBadToken, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var reviews, checks atomic.Int32
			kube := fakeKube(&reviews, &checks, "good")
			a := &authenticator{
				id:        identity.NewAuthenticator(identity.NewVerifier(testSigner.Keys()), kube.AuthenticationV1().TokenReviews()),
				audiences: []string{testAudience, "oci-connector.dev"}, acceptAPIServer: tc.apiServer,
			}
			_, err := a.authenticate(context.Background(), tc.token)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("authenticate: %v, want %v", err, tc.want)
			}
			if got := reviews.Load(); got != tc.reviews {
				t.Errorf("%d TokenReviews, want %d", got, tc.reviews)
			}
		})
	}
}

// subjectOf is a test token's sub, read without verifying.
func subjectOf(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct {
		Sub string `json:"sub"`
	}
	_ = json.Unmarshal(raw, &c)
	return c.Sub
}
