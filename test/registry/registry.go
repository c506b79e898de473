// Package registry runs a real upstream registry, distribution/distribution v3,
// in the test process on 127.0.0.1: one variant behind htpasswd Basic auth and
// one behind a token server issuing JWTs that the registry trusts (the token
// flow of Harbor, Docker Hub and most clouds). Each is seeded with a small image.
package registry

import (
	"cmp"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/oci-connector/oci-connector/test/harness"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"

	// The auth and storage implementations register themselves by import.
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/auth/token"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
)

// Credentials the test registries accept.
const (
	Username = "robot"
	Password = "s3cret-robot-password"
	// SeedRepository is the repository every registry is seeded with.
	SeedRepository = "testing/busybox"
	// SeedTag is the seeded image's tag.
	SeedTag = "latest"
)

// RobotAuth authenticates as the robot account, as a client talking to the
// registry directly would.
func RobotAuth() authn.Authenticator {
	return authn.FromConfig(authn.AuthConfig{Username: Username, Password: Password})
}

// SecretData is the robot account as a Connector's Secret holds it.
func SecretData() map[string]string {
	return map[string]string{"username": Username, "password": Password}
}

// Registry is a running upstream registry.
type Registry struct {
	// URL is the registry's base URL (http://127.0.0.1:port, or https with TLS).
	URL string
	// Host is host:port, as image references name it.
	Host string
	// CAPEM is the PEM of the certificate the TLS variant serves; nil for plain HTTP.
	CAPEM []byte
	// SeedDigest is the digest of the seeded image's manifest.
	SeedDigest string
	// StorageURL is where blob GETs are redirected (WithRedirectingStorage),
	// and StorageBytes what the storage server has served.
	StorageURL   string
	StorageBytes atomic.Int64

	server       *httptest.Server
	htpasswdPath string
}

// Option changes how a Registry starts.
type Option func(*options)

type options struct {
	tls bool
	// tokenTTL is how long the token server's tokens live (NewTokenAuth).
	tokenTTL time.Duration
	// rootDir, when set, stores blobs on disk instead of in memory.
	rootDir string
	// redirecting sends blob GETs to a storage server (WithRedirectingStorage).
	redirecting bool
	// listenIP is the address it listens on; 127.0.0.1 when empty.
	listenIP string
}

// WithListenIP makes the registry listen on ip: a cluster network's node
// address (test/cluster), where its pods reach it.
func WithListenIP(ip string) Option { return func(o *options) { o.listenIP = ip } }

// WithFilesystem stores the registry's content under dir, as a production
// registry does; benchmarks use it for blobs of gigabytes.
func WithFilesystem(dir string) Option { return func(o *options) { o.rootDir = dir } }

// WithTokenTTL makes the token server's tokens live d (5 minutes by default).
func WithTokenTTL(d time.Duration) Option { return func(o *options) { o.tokenTTL = d } }

// WithTLS serves the registry over HTTPS with a certificate only CAPEM trusts.
func WithTLS() Option { return func(o *options) { o.tls = true } }

// NewHtpasswd starts a registry that takes Basic auth against an htpasswd file.
func NewHtpasswd(t harness.T, opts ...Option) *Registry {
	t.Helper()
	path := filepath.Join(t.TempDir(), "htpasswd")
	writeHtpasswd(t, path, Password)
	r := start(t, configuration.Auth{"htpasswd": configuration.Parameters{
		"realm": "test-registry",
		"path":  path,
	}}, opts...)
	r.htpasswdPath = path
	return r
}

// RotatePassword makes an htpasswd registry accept only password from now on,
// as rotating a robot account's secret does.
func (r *Registry) RotatePassword(t harness.T, password string) {
	t.Helper()
	if r.htpasswdPath == "" {
		t.Fatalf("RotatePassword needs an htpasswd registry")
	}
	writeHtpasswd(t, r.htpasswdPath, password)
}

func writeHtpasswd(t harness.T, path, password string) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatalf("hashing the test password: %v", err)
	}
	// distribution re-reads the file when its modification time changes;
	// write a new file and rename it so the change is atomic and visible.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(Username+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatalf("writing htpasswd: %v", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatalf("replacing htpasswd: %v", err)
	}
}

// NewTokenAuth starts a registry that sends clients to a token server, which
// checks Username/Password and issues JWTs the registry trusts.
func NewTokenAuth(t harness.T, opts ...Option) *Registry {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	ts := newTokenServer(t, cmp.Or(o.tokenTTL, defaultTokenTTL))
	return start(t, configuration.Auth{"token": configuration.Parameters{
		"realm":             ts.URL + "/token",
		"service":           tokenService,
		"issuer":            tokenIssuer,
		"jwks":              ts.jwksPath,
		"signingalgorithms": []any{"ES256"},
	}}, opts...)
}

// NewOpen starts a registry anyone may read and write: for what a node
// pulls without a login, such as its sandbox image.
func NewOpen(t harness.T, opts ...Option) *Registry {
	t.Helper()
	return start(t, nil, opts...)
}

func start(t harness.T, auth configuration.Auth, opts ...Option) *Registry {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	quietLogs()

	storage := configuration.Storage{
		"inmemory": configuration.Parameters{},
		// Deletes are part of the API the proxy must pass through.
		"delete": configuration.Parameters{"enabled": true},
	}
	if o.rootDir != "" {
		delete(storage, "inmemory")
		storage["filesystem"] = configuration.Parameters{"rootdirectory": o.rootDir}
	}
	r := &Registry{}
	if o.redirecting {
		if o.rootDir == "" {
			o.rootDir = t.TempDir()
		}
		delete(storage, "inmemory")
		storage["filesystem"] = configuration.Parameters{"rootdirectory": o.rootDir}
	}
	cfg := &configuration.Configuration{Storage: storage, Auth: auth}
	if o.redirecting {
		r.StorageURL = startStorage(t, o.rootDir, &r.StorageBytes)
		cfg.Middleware = storageMiddleware(r.StorageURL)
	}
	cfg.Log.Level = "error"
	cfg.Log.AccessLog.Disabled = true
	cfg.HTTP.Secret = "test-registry-http-secret"
	app := handlers.NewApp(context.Background(), cfg)

	srv := httptest.NewUnstartedServer(app)
	if o.listenIP != "" {
		l, err := net.Listen("tcp", net.JoinHostPort(o.listenIP, "0"))
		if err != nil {
			t.Fatalf("listening on %s: %v", o.listenIP, err)
		}
		srv.Listener.Close()
		srv.Listener = l
	}
	r.server = srv
	if o.tls {
		srv.StartTLS()
		r.CAPEM = certPEM(srv.Certificate())
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	r.Host = srv.Listener.Addr().String()
	r.SeedDigest = seed(t, r)
	return r
}

// Client returns an HTTP client that trusts the registry's certificate.
func (r *Registry) Client() *http.Client {
	if r.server.TLS == nil {
		return http.DefaultClient
	}
	return r.server.Client()
}

// TLSConfig returns a TLS configuration that trusts the registry, or nil.
func (r *Registry) TLSConfig() *tls.Config {
	if r.server.TLS == nil {
		return nil
	}
	return r.server.Client().Transport.(*http.Transport).TLSClientConfig
}

// quietLogs keeps distribution's per-request error lines (every 404 a client
// probes for) out of test output; set REGISTRY_LOGS=1 to see them.
func quietLogs() {
	if os.Getenv("REGISTRY_LOGS") == "" {
		logrus.SetLevel(logrus.FatalLevel)
	}
}
