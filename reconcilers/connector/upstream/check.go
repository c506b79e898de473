// Package upstream checks that a Connector's upstream registry is reachable
// and accepts its credentials, and sorts failures into reasons a user can act on.
package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/oci-connector/oci-connector/pkg/credentials"
	"github.com/oci-connector/oci-connector/pkg/registryclient"
)

// Sentinel failures; Check wraps one of them with what happened.
var (
	ErrUnreachable        = errors.New("upstream unreachable")
	ErrTLS                = errors.New("upstream TLS failed")
	ErrUnauthorized       = errors.New("upstream refused the credentials")
	ErrRepositoryNotFound = errors.New("repository not found upstream")
)

// Target is what to check.
type Target struct {
	// Address is the registry's base URL (http or https).
	Address string
	// Credentials authenticate to the registry.
	Credentials credentials.Basic
	// Repository, when not a glob, must exist and be readable.
	Repository string
	// CAPEM is a PEM bundle to trust beside the system roots.
	CAPEM []byte
	// InsecureSkipVerify skips verifying the upstream's certificate.
	InsecureSkipVerify bool
}

// Checker checks an upstream. The reconciler takes it as an interface so that
// table tests can stand in for the network.
type Checker interface {
	Check(ctx context.Context, t Target) error
}

// RegistryChecker checks with the proxy's own client (pkg/registryclient):
// the same TLS trust and the same auth negotiation, then a GET of /v2/, or
// of the scoped repository's tag list.
type RegistryChecker struct {
	// Timeout bounds one check.
	Timeout time.Duration
	// RegistryCAPEM, when set, is a PEM certificate the upstream is trusted
	// with beside the system roots (tests use it for their own CA).
	RegistryCAPEM []byte
}

// DefaultTimeout bounds an upstream check.
const DefaultTimeout = 15 * time.Second

// Check implements Checker.
func (c RegistryChecker) Check(ctx context.Context, t Target) error {
	base, reg, err := registryclient.ParseAddress(t.Address)
	if err != nil {
		return fmt.Errorf("%w: address %q is not an http(s) URL with a host", ErrUnreachable, t.Address)
	}
	host := base.Host
	timeout := c.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	plain, err := registryclient.NewTransport(append(append([]byte(nil), c.RegistryCAPEM...), t.CAPEM...), t.InsecureSkipVerify)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrTLS, err)
	}
	defer plain.CloseIdleConnections()

	repo, path, scopes := "", "/v2/", []string(nil)
	if t.Repository != "" && !IsGlob(t.Repository) {
		if _, err := name.NewRepository(host+"/"+t.Repository, name.StrictValidation); err != nil {
			return fmt.Errorf("%w: %q is not a repository name", ErrRepositoryNotFound, t.Repository)
		}
		repo, path, scopes = t.Repository, "/v2/"+t.Repository+"/tags/list", []string{registryclient.PullScope(t.Repository)}
	}
	auth := &authn.Basic{Username: t.Credentials.Username, Password: t.Credentials.Password}
	rt, err := registryclient.Authenticate(ctx, base, reg, auth, plain, scopes)
	if err != nil {
		return classify(host, repo, err)
	}
	target := *base
	target.Path = path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrUnreachable, host, err)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return classify(host, repo, err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	return classify(host, repo, &transport.Error{StatusCode: resp.StatusCode, Request: req})
}

// classify maps a client error to one of the sentinels, with a message that
// names the host and never the credentials.
func classify(host, repo string, err error) error {
	if err == nil {
		return nil
	}
	var (
		certErr    *tls.CertificateVerificationError
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalidErr x509.CertificateInvalidError
		recordErr  tls.RecordHeaderError
		netErr     net.Error
		opErr      *net.OpError
		dnsErr     *net.DNSError
		httpErr    *transport.Error
	)
	status := 0
	if errors.As(err, &httpErr) {
		status = httpErr.StatusCode
	}
	switch {
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalidErr):
		return fmt.Errorf("%w: the certificate of %s is not trusted: %s", ErrTLS, host, rootCause(err))
	case errors.As(err, &recordErr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("%w: %s does not speak TLS; use an http:// address if it serves plain HTTP", ErrTLS, host)
	case status == http.StatusUnauthorized:
		return fmt.Errorf("%w: %s answered 401 Unauthorized; check the username and password in the Secret", ErrUnauthorized, host)
	case status == http.StatusNotFound && repo != "":
		return fmt.Errorf("%w: %s has no repository %q, or the credentials may not read it", ErrRepositoryNotFound, host, repo)
	case status == http.StatusForbidden:
		if repo != "" {
			return fmt.Errorf("%w: %s answered 403 Forbidden for %q; grant the robot account pull on it", ErrUnauthorized, host, repo)
		}
		return fmt.Errorf("%w: %s answered 403 Forbidden; check the account's permissions", ErrUnauthorized, host)
	case errors.As(err, &dnsErr):
		return fmt.Errorf("%w: cannot resolve %s", ErrUnreachable, host)
	case errors.As(err, &opErr), errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr):
		return fmt.Errorf("%w: cannot reach %s: %s", ErrUnreachable, host, rootCause(err))
	case status != 0:
		return fmt.Errorf("%w: %s answered %d %s", ErrUnreachable, host, status, http.StatusText(status))
	default:
		return fmt.Errorf("%w: %s: %s", ErrUnreachable, host, rootCause(err))
	}
}

// rootCause is the innermost error's text: short, and free of the request
// details the client adds on the way up.
func rootCause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// IsGlob says whether a repository scope is a glob rather than one repository.
func IsGlob(repository string) bool {
	return strings.ContainsAny(repository, "*?[")
}
