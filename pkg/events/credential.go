package events

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// AuditAudience is the audience of the ServiceAccount tokens senders
// present to the audit trail, which checks them with TokenReview.
const AuditAudience = "oci-connector.dev/audit"

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
