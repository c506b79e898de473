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
	"net/url"
	"strings"
	"time"

	"github.com/regclient/regclient"
	"github.com/regclient/regclient/config"
	"github.com/regclient/regclient/scheme/reg"
	"github.com/regclient/regclient/types/errs"
	"github.com/regclient/regclient/types/ref"

	"github.com/oci-connector/oci-connector/pkg/credentials"
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

// RegclientChecker checks with regclient: a ping of /v2/ with the
// credentials, or a tag list of the scoped repository.
type RegclientChecker struct {
	// Timeout bounds one check.
	Timeout time.Duration
	// RegistryCAPEM, when set, is a PEM certificate the upstream is trusted
	// with beside the system roots (tests use it for their own CA).
	RegistryCAPEM []byte
}

// DefaultTimeout bounds an upstream check.
const DefaultTimeout = 15 * time.Second

// Check implements Checker.
func (c RegclientChecker) Check(ctx context.Context, t Target) error {
	u, err := url.Parse(t.Address)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%w: address %q is not a URL with a host", ErrUnreachable, t.Address)
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	rc := regclient.New(
		regclient.WithConfigHost(c.hostConfig(u, t)),
		regclient.WithRegOpts(reg.WithRetryLimit(1)),
		regclient.WithUserAgent("oci-connector"),
	)
	host := u.Host
	if IsGlob(t.Repository) || t.Repository == "" {
		r, err := ref.New(host + "/library/ping")
		if err != nil {
			return fmt.Errorf("%w: %s is not a registry host", ErrUnreachable, host)
		}
		_, err = rc.Ping(ctx, r)
		return classify(host, "", err)
	}
	r, err := ref.New(host + "/" + t.Repository)
	if err != nil {
		return fmt.Errorf("%w: %q is not a repository name", ErrRepositoryNotFound, t.Repository)
	}
	_, err = rc.TagList(ctx, r)
	return classify(host, t.Repository, err)
}

func (c RegclientChecker) hostConfig(u *url.URL, t Target) config.Host {
	h := config.HostNewName(u.Host)
	h.User = t.Credentials.Username
	h.Pass = t.Credentials.Password
	switch {
	case u.Scheme == "http":
		h.TLS = config.TLSDisabled
	case t.InsecureSkipVerify:
		h.TLS = config.TLSInsecure
	default:
		h.TLS = config.TLSEnabled
	}
	if ca := append(append([]byte(nil), c.RegistryCAPEM...), t.CAPEM...); len(ca) > 0 {
		h.RegCert = string(ca)
	}
	return *h
}

// classify maps a regclient error to one of the sentinels, with a message
// that names the host and never the credentials.
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
	)
	switch {
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalidErr):
		return fmt.Errorf("%w: the certificate of %s is not trusted: %s", ErrTLS, host, rootCause(err))
	case errors.As(err, &recordErr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("%w: %s does not speak TLS; use an http:// address if it serves plain HTTP", ErrTLS, host)
	case errors.Is(err, errs.ErrHTTPUnauthorized):
		return fmt.Errorf("%w: %s answered 401 Unauthorized; check the username and password in the Secret", ErrUnauthorized, host)
	case errors.Is(err, errs.ErrNotFound) && repo != "":
		return fmt.Errorf("%w: %s has no repository %q, or the credentials may not read it", ErrRepositoryNotFound, host, repo)
	case isForbidden(err):
		if repo != "" {
			return fmt.Errorf("%w: %s answered 403 Forbidden for %q; grant the robot account pull on it", ErrUnauthorized, host, repo)
		}
		return fmt.Errorf("%w: %s answered 403 Forbidden; check the account's permissions", ErrUnauthorized, host)
	case errors.As(err, &dnsErr):
		return fmt.Errorf("%w: cannot resolve %s", ErrUnreachable, host)
	case errors.As(err, &opErr), errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr),
		errors.Is(err, errs.ErrBackoffLimit), errors.Is(err, errs.ErrAllRequestsFailed):
		return fmt.Errorf("%w: cannot reach %s: %s", ErrUnreachable, host, rootCause(err))
	default:
		return fmt.Errorf("%w: %s: %s", ErrUnreachable, host, rootCause(err))
	}
}

func isForbidden(err error) bool {
	return errors.Is(err, errs.ErrHTTPStatus) && strings.Contains(err.Error(), "403")
}

// rootCause is the innermost error's text: short, and free of the request
// details regclient adds on the way up.
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
