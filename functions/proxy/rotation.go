package main

import (
	"context"
	"errors"
	"net/http"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/oci-connector/oci-connector/pkg/credentials"
	"github.com/oci-connector/oci-connector/pkg/registryclient"
)

// send makes req upstream with the Connector's credentials. When the
// upstream refuses them and req can be sent again (it has no body), they
// may be mid-rotation: the Secret is read again at once, and the request
// tried with the new credentials if they changed, then with the ones in
// force before the last change (shortly after it, until the new ones work,
// and seldom: see mountedCredentials.before), then with the new ones once
// more (the upstream may have switched in between). So a rotation, done by
// changing the Secret first and the registry second, fails no pull. It
// returns the transport that answered, for redirects.
func (u *upstream) send(ctx context.Context, req *http.Request, scopes []string, write bool) (*http.Response, http.RoundTripper, error) {
	current := func() (http.RoundTripper, error) { return u.transportFor(ctx, scopes, write) }
	var tried *credentials.Basic
	if u.rotation != nil {
		tried = u.rotation.generation()
	}
	resp, t, err := try(req, current)
	if u.rotation != nil && tookCredentials(resp) {
		u.rotation.worked(tried)
	}
	if req.Body != nil || u.rotation == nil || !refusedCredentials(resp, err) {
		return resp, t, err
	}
	type attempt struct {
		get func() (http.RoundTripper, error)
		// refused, when set, hears that the upstream refused it.
		refused func()
	}
	var others []attempt
	// Changed since this request started, by this read or the periodic one:
	// the scoped transports were forgotten, so current makes a new one.
	if u.rotation.refresh(); u.rotation.generation() != tried {
		others = append(others, attempt{get: current})
	}
	if before := u.rotation.before(); before != nil {
		others = append(others, attempt{get: func() (http.RoundTripper, error) {
			return registryclient.Authenticate(ctx, u.base, u.registry, before, u.plain, scopes)
		}, refused: u.rotation.beforeRefused})
		// The upstream may switch between two of these attempts: the
		// first found it still on the old password, this one on the new.
		others = append(others, attempt{get: current})
	}
	for _, other := range others {
		if resp != nil {
			resp.Body.Close()
		}
		if resp, t, err = try(req, other.get); !refusedCredentials(resp, err) {
			u.logger.Infow("The upstream took other credentials of the Connector; a rotation is under way")
			return resp, t, err
		}
		if other.refused != nil {
			other.refused()
		}
	}
	return resp, t, err
}

// try sends req over the transport get makes. A request is only tried
// again when it has no body, and RoundTrip does not change it, so the same
// request serves every attempt.
func try(req *http.Request, get func() (http.RoundTripper, error)) (*http.Response, http.RoundTripper, error) {
	t, err := get()
	if err != nil {
		return nil, nil, err
	}
	resp, err := t.RoundTrip(req)
	return resp, t, err
}

// tookCredentials says whether the upstream's answer shows it took the
// credentials: it answered, and neither 401 nor 403.
func tookCredentials(resp *http.Response) bool {
	return resp != nil && resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden
}

// refusedCredentials says whether the upstream refused the credentials: a
// 401 answer, or a token exchange that was refused.
func refusedCredentials(resp *http.Response, err error) bool {
	if resp != nil {
		return resp.StatusCode == http.StatusUnauthorized
	}
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusUnauthorized
}
