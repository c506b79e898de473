package main

import (
	"context"
	"errors"

	"github.com/oci-connector/oci-connector/pkg/identity"
)

// authenticator says whose a client's token is, for the proxy's audiences
// (and the API server's, when the Connector accepts its tokens). Package
// identity does the work: a forged token is refused by its signature and
// costs no TokenReview.
type authenticator struct {
	id        *identity.Authenticator
	audiences []string
	// acceptAPIServer also accepts tokens for the API server's own audience.
	acceptAPIServer bool
	// lookedUp, when set, hears whether each lookup hit the cache.
	lookedUp func(ctx context.Context, hit bool)
}

// authenticate returns the token's user; errors wrap identity.ErrBadToken
// or identity.ErrUnavailable.
func (a *authenticator) authenticate(ctx context.Context, token string) (*identity.User, error) {
	user, hit, err := a.id.Authenticate(ctx, token, a.audiences)
	if errors.Is(err, identity.ErrBadToken) && a.acceptAPIServer {
		// No audiences: the API server checks against its own.
		user, hit, err = a.id.Authenticate(ctx, token, nil)
	}
	if a.lookedUp != nil {
		a.lookedUp(ctx, hit)
	}
	if err != nil {
		return nil, err
	}
	return &user, nil
}
