package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

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

// authenticator checks tokens with TokenReview for one audience.
type authenticator struct {
	client   kubernetes.Interface
	audience string
	// acceptAPIServer also accepts tokens for the API server's own audience.
	acceptAPIServer bool
	cache           *ttlcache.Cache[*identity]
	now             func() time.Time
	// lookedUp, when set, hears whether each lookup hit the cache.
	lookedUp func(ctx context.Context, hit bool)
}

func newAuthenticator(client kubernetes.Interface, audience string, acceptAPIServer bool) *authenticator {
	return &authenticator{client: client, audience: audience, acceptAPIServer: acceptAPIServer, cache: ttlcache.New[*identity](tokenCacheMaxEntries), now: time.Now}
}

// authenticate returns the token's identity, or errBadToken.
func (a *authenticator) authenticate(ctx context.Context, token string) (*identity, error) {
	sum := sha256.Sum256([]byte(token))
	id, hit, err := a.cache.Get(ctx, hex.EncodeToString(sum[:]), func(ctx context.Context) (*identity, time.Duration, error) {
		id, err := a.review(ctx, token, []string{a.audience})
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
	review, err := a.client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
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

// ttlFor bounds a cached answer by the token's own expiry. TokenReview has
// already verified the token; its exp claim is read here only for that bound.
func (a *authenticator) ttlFor(token string) time.Duration {
	ttl := tokenCacheTTL
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ttl
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ttl
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(raw, &claims) != nil || claims.Exp == 0 {
		return ttl
	}
	return min(ttl, time.Unix(claims.Exp, 0).Sub(a.now()))
}
