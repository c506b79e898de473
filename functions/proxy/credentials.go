package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/oci-connector/oci-connector/pkg/credentials"
)

// credentialsReloadInterval is how often the mounted Secret is read again.
// The kubelet updates a Secret volume within about a minute of a change.
const credentialsReloadInterval = 5 * time.Second

// The credentials in force before a change are tried again on a refusal
// only while a rotation can be under way: within previousWindow of the
// change, until the new ones have worked once, and while the upstream has
// refused them no more than fallbackBurst times and then once per
// fallbackInterval (logins it takes cost nothing: the rotation is under way
// and they serve pulls). Registries answer 401 for repositories they do
// not know, so without these bounds any client could make the Connector's
// account log in with a revoked password at will and trip the upstream's
// lockout.
const (
	previousWindow   = 10 * time.Minute
	fallbackInterval = 5 * time.Second
	fallbackBurst    = 3
)

// mountedCredentials serves the upstream credentials from the mounted Secret
// directory and reloads them when the files change. Requests in flight keep
// the transport they started with; new ones use the new credentials.
type mountedCredentials struct {
	dir     string
	host    string
	current atomic.Pointer[credentials.Basic]
	// previous were in force before the last change: during a rotation the
	// upstream may still take only them (see upstream.send).
	previous atomic.Pointer[previousCredentials]
	// fallbacks bounds the refused logins with previous.
	fallbacks *rate.Limiter
	now       func() time.Time

	mu       sync.Mutex
	lastRaw  []byte
	onChange func()
}

// previousCredentials are the credentials replaced at a change, offered
// until the end of the window.
type previousCredentials struct {
	basic *credentials.Basic
	until time.Time
}

var _ authn.Authenticator = (*mountedCredentials)(nil)

// loadMountedCredentials reads dir once; it fails when the Secret lacks what
// the connector needs.
func loadMountedCredentials(dir, host string) (*mountedCredentials, error) {
	m := &mountedCredentials{dir: dir, host: host, fallbacks: rate.NewLimiter(rate.Every(fallbackInterval), fallbackBurst), now: time.Now}
	if _, err := m.reload(); err != nil {
		return nil, err
	}
	return m, nil
}

// Authorization implements authn.Authenticator for go-containerregistry.
func (m *mountedCredentials) Authorization() (*authn.AuthConfig, error) {
	b := m.current.Load()
	return &authn.AuthConfig{Username: b.Username, Password: b.Password}, nil
}

// generation identifies the credentials in force: each change stores new
// ones, so a request can tell whether they changed since it started,
// whoever read them again.
func (m *mountedCredentials) generation() *credentials.Basic {
	return m.current.Load()
}

// refresh reads the mounted Secret now, not at the next tick: the upstream
// refused the credentials, so they may have just been rotated.
func (m *mountedCredentials) refresh() {
	_, _ = m.reload() // a bad Secret keeps the credentials in force
}

// before returns the credentials in force before the last change: nil when
// they never changed, the window has passed, the new ones have worked, or
// the refused fallbacks are spent for now.
func (m *mountedCredentials) before() authn.Authenticator {
	p := m.previous.Load()
	if p == nil || !m.now().Before(p.until) || m.fallbacks.TokensAt(m.now()) < 1 {
		return nil
	}
	return authn.FromConfig(authn.AuthConfig{Username: p.basic.Username, Password: p.basic.Password})
}

// beforeRefused spends one of the refused fallbacks.
func (m *mountedCredentials) beforeRefused() {
	m.fallbacks.AllowN(m.now(), 1)
}

// worked forgets the previous credentials once those of gen, still in
// force, have been taken by the upstream: the rotation is over.
func (m *mountedCredentials) worked(gen *credentials.Basic) {
	if m.previous.Load() != nil && m.current.Load() == gen {
		m.previous.Store(nil)
	}
}

// watch reloads the credentials until ctx ends.
func (m *mountedCredentials) watch(ctx context.Context, logger *zap.SugaredLogger) {
	wait.UntilWithContext(ctx, func(context.Context) {
		changed, err := m.reload()
		switch {
		case err != nil:
			// Keep serving with the last good credentials.
			logger.Errorw("Reloading upstream credentials failed; keeping the previous ones", zap.Error(err))
		case changed:
			logger.Infow("Upstream credentials changed; new requests use them")
		}
	}, credentialsReloadInterval)
}

// reload reads the directory and swaps the credentials in if they changed.
func (m *mountedCredentials) reload() (bool, error) {
	data, raw, err := readSecretDir(m.dir)
	if err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lastRaw != nil && bytes.Equal(raw, m.lastRaw) {
		return false, nil
	}
	b, err := credentials.FromSecretData(data, m.host)
	if err != nil {
		return false, fmt.Errorf("credentials in %s: %w", m.dir, err)
	}
	first := m.lastRaw == nil
	if old := m.current.Load(); old != nil {
		m.previous.Store(&previousCredentials{basic: old, until: m.now().Add(previousWindow)})
	}
	m.current.Store(&b)
	m.lastRaw = raw
	if !first && m.onChange != nil {
		m.onChange()
	}
	return !first, nil
}

// readSecretDir reads a mounted Secret: one file per key, skipping the
// kubelet's ..data bookkeeping entries. raw is a fingerprint of the content.
func readSecretDir(dir string) (map[string][]byte, []byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the credentials directory: %w", err)
	}
	data := map[string][]byte{}
	var raw []byte
	for _, e := range entries {
		name := e.Name()
		if len(name) >= 2 && name[:2] == ".." {
			continue
		}
		content, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			// A directory entry (not a key) or a file swapped away mid-read.
			continue
		}
		data[name] = content
		raw = append(raw, name...)
		raw = append(raw, 0)
		raw = append(raw, content...)
		raw = append(raw, 0)
	}
	return data, raw, nil
}
