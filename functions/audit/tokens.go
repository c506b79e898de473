package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oci-connector/oci-connector/pkg/reviews"
	"github.com/oci-connector/oci-connector/pkg/ttlcache"
)

// Senders and readers both log in with a Kubernetes token, which
// TokenReview checks; answers are kept for a little while.
const (
	tokenCacheTTL     = 10 * time.Second
	tokenCacheEntries = 10000
)

// httpError is a refusal with its HTTP status.
type httpError struct {
	status  int
	message string
}

func (e *httpError) Error() string { return e.message }

// bearerToken is the bearer token of r's Authorization header; empty for none.
func bearerToken(r *http.Request) string {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(token)
}

// tokenUsers asks TokenReview whose a token is.
type tokenUsers struct {
	reviews reviews.TokenReviews
	cache   *ttlcache.Cache[*authenticationv1.UserInfo]
}

func newTokenUsers(tokenReviews reviews.TokenReviews) *tokenUsers {
	return &tokenUsers{reviews: tokenReviews, cache: ttlcache.New[*authenticationv1.UserInfo](tokenCacheEntries)}
}

// user is who token belongs to, for audiences (the API server's own when
// none); a 401 httpError when TokenReview does not accept it.
func (u *tokenUsers) user(ctx context.Context, token string, audiences []string) (*authenticationv1.UserInfo, error) {
	sum := sha256.Sum256([]byte(strings.Join(audiences, ",") + "|" + token))
	user, _, err := u.cache.Get(ctx, hex.EncodeToString(sum[:]), func(ctx context.Context) (*authenticationv1.UserInfo, time.Duration, error) {
		review, err := u.reviews.Create(ctx, &authenticationv1.TokenReview{
			Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: audiences},
		}, metav1.CreateOptions{})
		if err != nil {
			return nil, 0, fmt.Errorf("TokenReview: %w", err)
		}
		if !review.Status.Authenticated {
			return nil, tokenCacheTTL, nil
		}
		return &review.Status.User, tokenCacheTTL, nil
	})
	if err != nil {
		return nil, &httpError{http.StatusServiceUnavailable, "cannot check the token right now; retry"}
	}
	if user == nil {
		return nil, &httpError{http.StatusUnauthorized, "the API server does not accept the token" + forAudiences(audiences)}
	}
	return user, nil
}

func forAudiences(audiences []string) string {
	if len(audiences) == 0 {
		return ""
	}
	return " for the audience " + strings.Join(audiences, ", ")
}
