package events

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// The audiences of the ServiceAccount tokens the install's senders present
// to its own functions, which check them: the audit trail (every sender)
// and tokenrefresh (the controller alone).
const (
	AuditAudience        = "oci-connector.dev/audit"
	TokenRefreshAudience = "oci-connector.dev/tokenrefresh"
)

// Credential is a token file presented to one address only.
type Credential struct {
	// URL is the address the token is for, as the install names it.
	URL string
	// TokenFile is a projected ServiceAccount token, read again as the
	// kubelet renews it.
	TokenFile string
}

// CredentialFor is the credential for sink: the one whose URL is the same
// address (scheme, host and port, path), if any.
func CredentialFor(sink string, credentials []Credential) (Credential, bool) {
	for _, c := range credentials {
		if c.URL != "" && c.TokenFile != "" && SameAddress(c.URL, sink) {
			return c, true
		}
	}
	return Credential{}, false
}

// SameAddress says whether a and b name one HTTP endpoint: the same scheme,
// host and port (a default port written or not), and path (a trailing slash
// or not). Anything that does not parse is nobody's address.
func SameAddress(a, b string) bool {
	ua, errA := url.Parse(a)
	ub, errB := url.Parse(b)
	if errA != nil || errB != nil || ua.Host == "" || ub.Host == "" || ua.User != nil || ub.User != nil {
		return false
	}
	return strings.EqualFold(ua.Scheme, ub.Scheme) &&
		strings.EqualFold(ua.Hostname(), ub.Hostname()) && portOf(ua) == portOf(ub) &&
		strings.TrimSuffix(ua.EscapedPath(), "/") == strings.TrimSuffix(ub.EscapedPath(), "/")
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

// tokenRereadInterval is how often a sender reads its token file again: the
// kubelet rotates a projected token well before it expires.
const tokenRereadInterval = time.Minute

// tokenFile is a projected ServiceAccount token, read again every minute.
type tokenFile struct {
	path string
	mu   sync.Mutex
	read time.Time
	tok  string
}

func (f *tokenFile) token() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tok != "" && time.Since(f.read) < tokenRereadInterval {
		return f.tok, nil
	}
	raw, err := os.ReadFile(f.path)
	if err != nil {
		return "", fmt.Errorf("reading the sender's token: %w", err)
	}
	f.tok, f.read = strings.TrimSpace(string(raw)), time.Now()
	return f.tok, nil
}
