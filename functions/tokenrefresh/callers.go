package main

import (
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/pkg/identity"
)

// Who may ask for a refresh: the controller alone, with a ServiceAccount
// token for events.TokenRefreshAudience. A refresh reads and writes across
// namespaces with tokenrefresh's own rights and shares its API rate limit,
// so work for anyone else would be work the real refreshes wait behind.

// callerAuth checks the sender of a request.
type callerAuth struct {
	authn  *identity.Authenticator
	logger *zap.SugaredLogger
	// controller is the username of the controller's ServiceAccount.
	controller string
}

// check answers r with a refusal and returns false unless the controller
// sent it. It reads only the headers: an unauthenticated body is never read.
func (c *callerAuth) check(rw http.ResponseWriter, r *http.Request) bool {
	refuse := func(status int, message string, fields ...any) bool {
		c.logger.Warnw("Refused a request", append([]any{"status", status, "message", message}, fields...)...)
		http.Error(rw, message, status)
		return false
	}
	token, err := identity.Token(r)
	if err != nil {
		return refuse(http.StatusUnauthorized, "present the controller's ServiceAccount token for the audience "+events.TokenRefreshAudience+" as a bearer token")
	}
	user, _, err := c.authn.Authenticate(r.Context(), token, []string{events.TokenRefreshAudience})
	switch {
	case errors.Is(err, identity.ErrBadToken):
		return refuse(http.StatusUnauthorized, "the token is not valid for the audience "+events.TokenRefreshAudience, zap.Error(err))
	case err != nil:
		return refuse(http.StatusServiceUnavailable, "cannot check the token right now; retry", zap.Error(err))
	case user.Username != c.controller:
		return refuse(http.StatusForbidden, user.Username+" may not ask for refreshes; only "+c.controller+" may")
	}
	return true
}
