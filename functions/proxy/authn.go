package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oci-connector/oci-connector/pkg/reviews"
	"github.com/oci-connector/oci-connector/pkg/tokenclaims"
	"github.com/oci-connector/oci-connector/pkg/ttlcache"
)

// Cache lifetimes: a token answer lives until the token expires or this TTL,
// whichever is sooner; a refusal is remembered only briefly.
const (
	tokenCacheTTL         = time.Minute
	tokenNegativeCacheTTL = 5 * time.Second
	tokenCacheMaxEntries  = 10000
)

var (
	errNoCredentials = errors.New("no credentials")
	errBadToken      = errors.New("the token was not accepted")
)

// identity is who a client is, as TokenReview says.
type identity struct {
	authenticationv1.UserInfo
}

// tokenFrom reads the ServiceAccount token from Basic (password) or Bearer.
func tokenFrom(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", errNoCredentials
	}
	if _, password, ok := r.BasicAuth(); ok {
		if password == "" {
			return "", errNoCredentials
		}
		return password, nil
	}
	scheme, token, ok := strings.Cut(h, " ")
	if ok && strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(token) != "" {
		return strings.TrimSpace(token), nil
	}
	return "", errNoCredentials
}

// authenticator checks tokens with TokenReview for the proxy's audiences.
type authenticator struct {
	reviews   reviews.TokenReviews
	audiences []string
	// acceptAPIServer also accepts tokens for the API server's own audience.
	acceptAPIServer bool
	cache           *ttlcache.Cache[*identity]
	now             func() time.Time
	// lookedUp, when set, hears whether each lookup hit the cache.
	lookedUp func(ctx context.Context, hit bool)
}

func newAuthenticator(tokenReviews reviews.TokenReviews, audiences []string, acceptAPIServer bool) *authenticator {
	return &authenticator{reviews: tokenReviews, audiences: audiences, acceptAPIServer: acceptAPIServer, cache: ttlcache.New[*identity](tokenCacheMaxEntries), now: time.Now}
}

// authenticate returns the token's identity, or errBadToken. A token that
// cannot be one for this proxy (not a JWT, expired, for another audience)
// is refused before TokenReview is asked, so garbage costs the API server
// nothing.
func (a *authenticator) authenticate(ctx context.Context, token string) (*identity, error) {
	if !a.mayBeForUs(token) {
		return nil, errBadToken
	}
	sum := sha256.Sum256([]byte(token))
	id, hit, err := a.cache.Get(ctx, hex.EncodeToString(sum[:]), func(ctx context.Context) (*identity, time.Duration, error) {
		id, err := a.review(ctx, token, a.audiences)
		if id == nil && err == nil && a.acceptAPIServer {
			// No audiences: the API server checks against its own.
			id, err = a.review(ctx, token, nil)
		}
		switch {
		case err != nil:
			// Not cached: the API server may be back in a moment.
			return nil, 0, err
		case id == nil:
			return nil, tokenNegativeCacheTTL, nil
		default:
			return id, a.ttlFor(token), nil
		}
	})
	if a.lookedUp != nil {
		a.lookedUp(ctx, hit)
	}
	if err != nil {
		return nil, err
	}
	if id == nil {
		return nil, errBadToken
	}
	return id, nil
}

// review asks TokenReview; a nil identity and nil error mean "not authenticated".
func (a *authenticator) review(ctx context.Context, token string, audiences []string) (*identity, error) {
	review, err := a.reviews.Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: audiences},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("TokenReview: %w", err)
	}
	if !review.Status.Authenticated {
		return nil, nil
	}
	return &identity{review.Status.User}, nil
}

// mayBeForUs says whether token could pass TokenReview here: a JWT, not
// expired, and (unless API server tokens are accepted) for one of the
// proxy's audiences.
func (a *authenticator) mayBeForUs(token string) bool {
	c, ok := tokenclaims.Parse(token)
	if exp, has := c.Expiry(); !ok || (has && !a.now().Before(exp)) {
		return false
	}
	if a.acceptAPIServer {
		return true
	}
	for _, aud := range c.Aud {
		if slices.Contains(a.audiences, aud) {
			return true
		}
	}
	return false
}

// ttlFor bounds a cached answer by the token's own expiry. TokenReview has
// already verified the token; its exp claim is read here only for that bound.
func (a *authenticator) ttlFor(token string) time.Duration {
	c, _ := tokenclaims.Parse(token)
	exp, ok := c.Expiry()
	if !ok {
		return tokenCacheTTL
	}
	return min(tokenCacheTTL, exp.Sub(a.now()))
}
