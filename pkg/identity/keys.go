package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"k8s.io/client-go/rest"
)

// The API server's ServiceAccount issuer discovery (KEP-1393): readable by
// every ServiceAccount through the ClusterRole
// system:service-account-issuer-discovery.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/openid/v1/jwks"
)

// minKeyRefresh is how often, at most, an unknown key ID makes Keys fetch
// the key set again: a forged token with a random kid costs at most one
// fetch per interval for all callers together.
const minKeyRefresh = 10 * time.Second

// Getter reads a path of the API server (reviews.Client.Get does).
type Getter func(ctx context.Context, path string) ([]byte, error)

// RESTGetter reads paths through a client-go REST client (a clientset's
// CoreV1().RESTClient(), say).
func RESTGetter(c rest.Interface) Getter {
	return func(ctx context.Context, path string) ([]byte, error) {
		return c.Get().AbsPath(path).DoRaw(ctx)
	}
}

// KeySource gives the issuer and the keys that may have signed a token.
type KeySource interface {
	// Issuer is the iss claim of the cluster's ServiceAccount tokens.
	Issuer(ctx context.Context) (string, error)
	// Keys are the keys with ID kid (every key when kid is empty).
	Keys(ctx context.Context, kid string) ([]jose.JSONWebKey, error)
}

// Keys reads the issuer and its keys from the API server, and reads them
// again when a token names a key it does not know (the API server rotated
// its signing key), at most once per minKeyRefresh.
type Keys struct {
	get Getter
	now func() time.Time

	mu      sync.Mutex
	issuer  string
	set     jose.JSONWebKeySet
	fetched time.Time
}

// NewKeys reads keys through get.
func NewKeys(get Getter) *Keys {
	return &Keys{get: get, now: time.Now}
}

// Issuer implements KeySource.
func (k *Keys) Issuer(ctx context.Context) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.loadLocked(ctx, false); err != nil {
		return "", err
	}
	return k.issuer, nil
}

// Keys implements KeySource.
func (k *Keys) Keys(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.loadLocked(ctx, false); err != nil {
		return nil, err
	}
	if kid == "" {
		return k.set.Keys, nil
	}
	if keys := k.set.Key(kid); len(keys) > 0 {
		return keys, nil
	}
	if err := k.loadLocked(ctx, true); err != nil {
		return nil, err
	}
	return k.set.Key(kid), nil
}

// loadLocked fetches the discovery document and the key set when none is
// held, or, when again is set, if the last fetch is old enough.
func (k *Keys) loadLocked(ctx context.Context, again bool) error {
	if k.issuer != "" && (!again || k.now().Sub(k.fetched) < minKeyRefresh) {
		return nil
	}
	if k.issuer == "" && !k.fetched.IsZero() && k.now().Sub(k.fetched) < time.Second {
		return errKeysUnavailable // a failed fetch is not repeated at once
	}
	k.fetched = k.now()
	raw, err := k.get(ctx, DiscoveryPath)
	if err != nil {
		return fmt.Errorf("%w: reading %s: %v", errKeysUnavailable, DiscoveryPath, err)
	}
	var doc struct {
		Issuer string `json:"issuer"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || doc.Issuer == "" {
		return fmt.Errorf("%w: %s names no issuer", errKeysUnavailable, DiscoveryPath)
	}
	// The API server serves its keys at JWKSPath whatever jwks_uri says (it
	// may name an address outside the cluster).
	raw, err = k.get(ctx, JWKSPath)
	if err != nil {
		return fmt.Errorf("%w: reading %s: %v", errKeysUnavailable, JWKSPath, err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return fmt.Errorf("%w: %s: %v", errKeysUnavailable, JWKSPath, err)
	}
	k.issuer, k.set = doc.Issuer, set
	return nil
}

var errKeysUnavailable = errors.New("the cluster's ServiceAccount keys are unavailable")

// StaticKeys is a fixed issuer and key set: for tests, and for a cluster
// whose keys are given rather than discovered.
type StaticKeys struct {
	IssuerURL string
	Set       jose.JSONWebKeySet
}

// Issuer implements KeySource.
func (s StaticKeys) Issuer(context.Context) (string, error) { return s.IssuerURL, nil }

// Keys implements KeySource.
func (s StaticKeys) Keys(_ context.Context, kid string) ([]jose.JSONWebKey, error) {
	if kid == "" {
		return s.Set.Keys, nil
	}
	return s.Set.Key(kid), nil
}
