package main

import (
	"errors"
	"net/http"

	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/pkg/identity"
)

// Who may ask for a refresh: the controller alone, with a ServiceAccount
// token for events.TokenRefreshAudience. A refresh reads and writes across
// namespaces with tokenrefresh's own rights and shares its API rate limit,
// so work for anyone else would be work the real refreshes wait behind.

// callerAuth checks the sender of a request.
type callerAuth struct {
	authn *identity.Authenticator
	// controller is the username of the controller's ServiceAccount.
	controller string
}

// check answers r with a refusal and returns false unless the controller
// sent it. It reads only the headers: an unauthenticated body is never read.
func (c *callerAuth) check(rw http.ResponseWriter, r *http.Request) bool {
	token, err := identity.Token(r)
	if err != nil {
		http.Error(rw, "present the controller's ServiceAccount token for the audience "+events.TokenRefreshAudience+" as a bearer token", http.StatusUnauthorized)
		return false
	}
	user, _, err := c.authn.Authenticate(r.Context(), token, []string{events.TokenRefreshAudience})
	switch {
	case errors.Is(err, identity.ErrBadToken):
		http.Error(rw, "the token is not valid for the audience "+events.TokenRefreshAudience, http.StatusUnauthorized)
		return false
	case err != nil:
		http.Error(rw, "cannot check the token right now; retry", http.StatusServiceUnavailable)
		return false
	case user.Username != c.controller:
		http.Error(rw, user.Username+" may not ask for refreshes; only "+c.controller+" may", http.StatusForbidden)
		return false
	}
	return true
}
