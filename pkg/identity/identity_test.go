package identity_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oci-connector/oci-connector/pkg/identity"
	"github.com/oci-connector/oci-connector/pkg/identity/identitytest"
)

func TestToken(t *testing.T) {
	for _, tc := range []struct {
		name, header, want string
	}{
		{"none", "", ""},
		{"basic password", "Basic dTp0b2s=", "tok"}, // u:tok
		{"basic without password", "Basic dTo=", ""},
		{"bearer", "Bearer tok", "tok"},
		{"bearer in lower case, spaced", "bearer  tok ", "tok"},
		{"empty bearer", "Bearer ", ""},
		{"another scheme", "Negotiate abc", ""},
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		got, err := identity.Token(r)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("%s: Token = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

// countingReviews authenticates the subjects it is told, and counts.
type countingReviews struct {
	calls atomic.Int64
	good  map[string]bool
}

func (c *countingReviews) Create(_ context.Context, tr *authenticationv1.TokenReview, _ metav1.CreateOptions) (*authenticationv1.TokenReview, error) {
	c.calls.Add(1)
	out := tr.DeepCopy()
	sub := subjectOf(tr.Spec.Token)
	if c.good[sub] {
		out.Status = authenticationv1.TokenReviewStatus{Authenticated: true, Audiences: tr.Spec.Audiences, User: authenticationv1.UserInfo{Username: sub}}
	}
	return out, nil
}

// subjectOf is the sub of a test token: its claims are not secret.
func subjectOf(token string) string {
	var c struct {
		Sub string `json:"sub"`
	}
	_ = json.Unmarshal([]byte(decode(token)), &c)
	return c.Sub
}

const aud = "oci-connector.dev/ns/harbor"

func TestAuthenticate(t *testing.T) {
	signer, stranger := identitytest.NewSigner(), identitytest.NewSigner()
	hour := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name    string
		token   string
		want    error
		reviews int64
	}{
		{"a signed token TokenReview accepts", signer.Token(aud, "good", hour), nil, 1},
		{"signed, but TokenReview refuses it (the pod is gone)", signer.Token(aud, "gone", hour), identity.ErrBadToken, 1},
		{"forged: another key signed it", stranger.Token(aud, "good", hour), identity.ErrBadToken, 0},
		{"forged: the signature is garbage", signer.Token(aud, "good", hour)[:40] + "x.y.z", identity.ErrBadToken, 0},
		{"another audience", signer.Token("oci-connector.dev/ns/other", "good", hour), identity.ErrBadToken, 0},
		{"expired", signer.Token(aud, "good", time.Now().Add(-5*time.Minute)), identity.ErrBadToken, 0},
		{"not a JWT", "opaque", identity.ErrBadToken, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &countingReviews{good: map[string]bool{"good": true}}
			a := identity.NewAuthenticator(identity.NewVerifier(signer.Keys()), tr)
			_, _, err := a.Authenticate(context.Background(), tc.token, []string{aud})
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("Authenticate: %v, want %v", err, tc.want)
			}
			if got := tr.calls.Load(); got != tc.reviews {
				t.Errorf("%d TokenReviews, want %d", got, tc.reviews)
			}
		})
	}
}

// A valid caller's answer stays kept however many refusals come after it.
func TestRefusalsDoNotFlushTheCache(t *testing.T) {
	signer := identitytest.NewSigner()
	tr := &countingReviews{good: map[string]bool{"good": true}}
	a := identity.NewAuthenticator(identity.NewVerifier(signer.Keys()), tr)
	ctx := context.Background()
	good := signer.Token(aud, "good", time.Now().Add(time.Hour))
	if _, _, err := a.Authenticate(ctx, good, []string{aud}); err != nil {
		t.Fatal(err)
	}
	for i := range 3000 { // more than the refusals' cache holds, each a distinct signed token TokenReview refuses
		_, _, _ = a.Authenticate(ctx, signer.Token(aud, "gone", time.Now().Add(time.Hour+time.Duration(i)*time.Second)), []string{aud})
	}
	if _, cached, err := a.Authenticate(ctx, good, []string{aud}); err != nil || !cached {
		t.Errorf("the valid token after a flood of refusals: cached=%v err=%v; want a kept answer", cached, err)
	}
}

// An answer is kept no longer than the token lives.
func TestAnswerNeverOutlivesTheToken(t *testing.T) {
	signer := identitytest.NewSigner()
	tr := &countingReviews{good: map[string]bool{"good": true}}
	a := identity.NewAuthenticator(identity.NewVerifier(signer.Keys()), tr, identity.WithTTL(time.Hour))
	ctx := context.Background()
	// Expires in 61 s: the verifier's leeway accepts it; the cache keeps it
	// for the token's remaining life only.
	short := signer.Token(aud, "good", time.Now().Add(1500*time.Millisecond))
	if _, _, err := a.Authenticate(ctx, short, []string{aud}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, cached, err := a.Authenticate(ctx, short, []string{aud})
		if err != nil {
			t.Fatal(err)
		}
		if !cached {
			return // asked again once the token's time was up
		}
		if time.Now().After(deadline) {
			t.Fatal("the answer outlived its token")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Readers who are people may log in with a token from another issuer; one
// that claims the cluster's issuer must still be signed by it.
func TestForeignIssuers(t *testing.T) {
	signer := identitytest.NewSigner()
	tr := &countingReviews{good: map[string]bool{"other": true}}
	a := identity.NewAuthenticator(identity.NewVerifier(signer.Keys()), tr, identity.WithForeignIssuers())
	ctx := context.Background()
	foreign := encode(`{"iss":"https://dex.example.com","sub":"other"}`)
	if _, _, err := a.Authenticate(ctx, foreign, nil); err != nil {
		t.Errorf("a foreign token TokenReview accepts: %v", err)
	}
	forged := encode(`{"iss":"` + identitytest.Issuer + `","sub":"other"}`)
	calls := tr.calls.Load()
	if _, _, err := a.Authenticate(ctx, forged, nil); !errors.Is(err, identity.ErrBadToken) || tr.calls.Load() != calls {
		t.Errorf("a forged token claiming the cluster's issuer: %v after %d more TokenReviews; want refused locally", err, tr.calls.Load()-calls)
	}
}

// The bound holds for the whole Authenticator, not per caller.
func TestTokenReviewsAreBoundedAsAWhole(t *testing.T) {
	signer := identitytest.NewSigner()
	tr := &countingReviews{good: map[string]bool{"good": true}}
	a := identity.NewAuthenticator(identity.NewVerifier(signer.Keys()), tr, identity.WithReviewBound(1, 1))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var unavailable int
	for i := range 5 {
		_, _, err := a.Authenticate(ctx, signer.Token(aud, "good", time.Now().Add(time.Hour+time.Duration(i)*time.Second)), []string{aud})
		if err != nil {
			unavailable++
		}
	}
	if got := tr.calls.Load(); got > 2 {
		t.Errorf("%d TokenReviews within 300ms at 1/s (burst 2)", got)
	}
	if unavailable == 0 {
		t.Error("no caller was held back")
	}
}

type countingSARs struct {
	calls atomic.Int64
	last  *authorizationv1.SubjectAccessReview
}

func (c *countingSARs) Create(_ context.Context, sar *authorizationv1.SubjectAccessReview, _ metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error) {
	c.calls.Add(1)
	c.last = sar.DeepCopy()
	c.last.Status.Allowed = len(sar.Spec.Extra["authentication.kubernetes.io/pod-name"]) == 1 && sar.Spec.Extra["authentication.kubernetes.io/pod-name"][0] == "allowed"
	return c.last, nil
}

// The cache key covers Extra, which the review sends: two users that differ
// only there get their own answers.
func TestAuthorizerKeyCoversExtra(t *testing.T) {
	sars := &countingSARs{}
	a := identity.NewAuthorizer(sars, time.Minute, time.Minute)
	attrs := authorizationv1.ResourceAttributes{Namespace: "ns", Verb: "get", Group: "oci-connector.dev", Resource: "connectors", Subresource: "audit"}
	user := func(pod string) identity.User {
		return identity.User{Username: "u", Extra: map[string]authenticationv1.ExtraValue{"authentication.kubernetes.io/pod-name": {pod}}}
	}
	ctx := context.Background()
	if ok, _, _ := a.Allowed(ctx, user("allowed"), attrs); !ok {
		t.Fatal("want allowed")
	}
	if ok, cached, _ := a.Allowed(ctx, user("other"), attrs); ok || cached {
		t.Errorf("another pod's user: allowed=%v cached=%v; want its own review, refused", ok, cached)
	}
	if _, cached, _ := a.Allowed(ctx, user("allowed"), attrs); !cached {
		t.Error("the same user again was not kept")
	}
	if sars.calls.Load() != 2 {
		t.Errorf("%d reviews, want 2", sars.calls.Load())
	}
}
