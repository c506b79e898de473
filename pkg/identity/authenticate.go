package identity

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TokenReviews creates TokenReviews (reviews.Client's, or a clientset's).
type TokenReviews interface {
	Create(ctx context.Context, review *authenticationv1.TokenReview, opts metav1.CreateOptions) (*authenticationv1.TokenReview, error)
}

// Defaults of an Authenticator.
const (
	// DefaultTokenTTL bounds how long a token's identity is kept; never
	// longer than the token lives.
	DefaultTokenTTL = time.Minute
	// refusedTTL is how long a refusal by TokenReview is kept.
	refusedTTL = 5 * time.Second
	// DefaultReviewRate bounds TokenReviews per second as a whole (burst
	// twice as much): what reaches TokenReview is signed by the cluster, so
	// only real callers spend it, but a bound keeps the API server safe
	// whatever happens.
	DefaultReviewRate = 50
	// DefaultConcurrentReviews bounds the TokenReviews in flight.
	DefaultConcurrentReviews = 16
	// maxReviewWait is the longest a caller waits for its turn.
	maxReviewWait  = 5 * time.Second
	tokenEntries   = 10000
	refusedEntries = 1000
)

// User is who a token belongs to, as TokenReview says.
type User = authenticationv1.UserInfo

// Authenticator says whose a token is: locally verified first (unless the
// caller allows foreign issuers), then TokenReview, each answer kept.
type Authenticator struct {
	verifier *Verifier
	reviews  TokenReviews
	answers  *answers[User]
	ttl      time.Duration
	// foreign lets tokens the cluster did not sign reach TokenReview (the
	// audit page's human readers may log in with an OIDC token).
	foreign  bool
	limit    *rate.Limiter
	inFlight chan struct{}
	now      func() time.Time
}

// Option sets an Authenticator's knobs.
type Option func(*Authenticator)

// WithTTL bounds how long an identity is kept.
func WithTTL(ttl time.Duration) Option { return func(a *Authenticator) { a.ttl = ttl } }

// WithForeignIssuers lets tokens the cluster did not sign go to TokenReview
// (within the same bound), for callers that are people rather than
// workloads.
func WithForeignIssuers() Option { return func(a *Authenticator) { a.foreign = true } }

// WithReviewBound sets how many TokenReviews per second, and how many at
// once, the Authenticator may ask.
func WithReviewBound(perSecond float64, concurrent int) Option {
	return func(a *Authenticator) {
		a.limit = rate.NewLimiter(rate.Limit(perSecond), max(1, int(2*perSecond)))
		a.inFlight = make(chan struct{}, concurrent)
	}
}

// NewAuthenticator checks tokens with verifier, then tokenReviews.
func NewAuthenticator(verifier *Verifier, tokenReviews TokenReviews, opts ...Option) *Authenticator {
	a := &Authenticator{verifier: verifier, reviews: tokenReviews, answers: newAnswers[User](tokenEntries, refusedEntries), ttl: DefaultTokenTTL, now: time.Now}
	WithReviewBound(DefaultReviewRate, DefaultConcurrentReviews)(a)
	for _, o := range opts {
		o(a)
	}
	return a
}

// Authenticate returns whose token is, for one of audiences (the API
// server's own when none), and whether the answer was kept from before.
// Errors wrap ErrBadToken or ErrUnavailable.
func (a *Authenticator) Authenticate(ctx context.Context, token string, audiences []string) (User, bool, error) {
	sum := sha256.Sum256([]byte(strings.Join(audiences, ",") + "\x00" + token))
	key := string(sum[:])
	ans, cached := a.answers.lookup(key)
	if !cached {
		// Checked here, not in the shared load: a token the cluster refuses
		// costs its caller a signature check and nothing more (no
		// goroutine, no entry in any cache).
		claims, err := a.verifier.Verify(ctx, token, audiences)
		if err != nil && !(a.foreign && errors.Is(err, ErrBadToken) && !claimsClusterIssuer(ctx, a.verifier, token)) {
			return User{}, false, err
		}
		if ans, err = a.answers.load(ctx, key, a.reviewed(token, audiences, claims)); err != nil {
			return User{}, false, err
		}
	}
	if !ans.yes {
		return User{}, cached, fmt.Errorf("%w: TokenReview did not authenticate it", ErrBadToken)
	}
	return ans.value, cached, nil
}

// reviewed loads TokenReview's answer about a token the verifier passed,
// kept no longer than claims say the token lives.
func (a *Authenticator) reviewed(token string, audiences []string, claims Claims) func(context.Context) (loaded[User], error) {
	return func(ctx context.Context) (loaded[User], error) {
		user, err := a.review(ctx, token, audiences)
		if err != nil {
			return loaded[User]{}, err
		}
		if user == nil {
			return loaded[User]{ttl: refusedTTL}, nil
		}
		ttl := a.ttl
		if !claims.Expiry.IsZero() {
			ttl = min(ttl, claims.Expiry.Sub(a.now()))
		}
		return loaded[User]{value: *user, yes: true, ttl: ttl}, nil
	}
}

// claimsClusterIssuer says whether token claims to be from the cluster's issuer: a
// foreign token (another issuer, or not a JWT) may go to TokenReview, but
// one that claims the cluster's issuer and fails its check may not.
func claimsClusterIssuer(ctx context.Context, v *Verifier, token string) bool {
	iss, err := v.keys.Issuer(ctx)
	if err != nil {
		return true
	}
	return unverifiedIssuer(token) == iss
}

// review asks TokenReview within the bound; a nil user and nil error mean
// "not authenticated".
func (a *Authenticator) review(ctx context.Context, token string, audiences []string) (*User, error) {
	waitCtx, cancel := context.WithTimeout(ctx, maxReviewWait)
	defer cancel()
	if err := a.limit.Wait(waitCtx); err != nil {
		return nil, fmt.Errorf("%w: too many token reviews at once", ErrUnavailable)
	}
	select {
	case a.inFlight <- struct{}{}:
		defer func() { <-a.inFlight }()
	case <-waitCtx.Done():
		return nil, fmt.Errorf("%w: too many token reviews at once", ErrUnavailable)
	}
	review, err := a.reviews.Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: audiences},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("%w: TokenReview: %v", ErrUnavailable, err)
	}
	st := review.Status
	if !st.Authenticated {
		return nil, nil
	}
	if len(audiences) > 0 && !slices.ContainsFunc(audiences, func(aud string) bool { return slices.Contains(st.Audiences, aud) }) {
		return nil, nil
	}
	return &st.User, nil
}
