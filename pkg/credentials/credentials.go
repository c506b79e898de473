// Package credentials reads upstream registry credentials out of a Secret's
// data: the keys username and password, or the entry for the registry's host
// in a kubernetes.io/dockerconfigjson. The controller reads the Secret through
// the API; the proxy reads the same keys from the mounted Secret directory.
package credentials

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/oci-connector/oci-connector/pkg/imageref"
)

// Secret keys understood here.
const (
	KeyUsername         = "username"
	KeyPassword         = "password"
	KeyDockerConfigJSON = ".dockerconfigjson"
	// KeyCACert, when present, is a PEM bundle to trust for the upstream.
	KeyCACert = "ca.crt"
)

// ErrMissingKey is returned, wrapped with the key's name, when the Secret
// lacks what the connector needs.
var ErrMissingKey = errors.New("missing key")

// Basic is a username and password for the upstream registry.
type Basic struct {
	Username string
	Password string
}

// String never shows the password, so a Basic that slips into a log or an
// error message leaks nothing.
func (b Basic) String() string {
	return fmt.Sprintf("Basic{Username: %q, Password: <redacted>}", b.Username)
}

// GoString is String, for %#v.
func (b Basic) GoString() string { return b.String() }

// FromSecretData returns the credentials for registry host host (host[:port]).
// A dockerconfigjson entry for the host wins; otherwise username and password
// must both be present.
func FromSecretData(data map[string][]byte, host string) (Basic, error) {
	if raw, ok := data[KeyDockerConfigJSON]; ok {
		return fromDockerConfig(raw, host)
	}
	var missing []string
	for _, k := range []string{KeyUsername, KeyPassword} {
		if len(data[k]) == 0 {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return Basic{}, fmt.Errorf("%w: %s (or %s with an entry for %s)", ErrMissingKey, strings.Join(missing, ", "), KeyDockerConfigJSON, host)
	}
	return Basic{Username: string(data[KeyUsername]), Password: string(data[KeyPassword])}, nil
}

type dockerConfig struct {
	Auths map[string]dockerAuth `json:"auths"`
}

type dockerAuth struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Auth     string `json:"auth"`
}

func fromDockerConfig(raw []byte, host string) (Basic, error) {
	var cfg dockerConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		// The JSON error could quote a fragment of the file: leave it out.
		return Basic{}, fmt.Errorf("%w: %s is not valid JSON", ErrMissingKey, KeyDockerConfigJSON)
	}
	for key, entry := range cfg.Auths {
		if !sameRegistry(normalizeHost(key), normalizeHost(host)) {
			continue
		}
		b := Basic{Username: entry.Username, Password: entry.Password}
		if entry.Auth != "" {
			decoded, err := base64.StdEncoding.DecodeString(entry.Auth)
			if err != nil {
				return Basic{}, fmt.Errorf("%w: the auth of %s in %s is not base64", ErrMissingKey, key, KeyDockerConfigJSON)
			}
			user, pass, ok := strings.Cut(string(decoded), ":")
			if !ok {
				return Basic{}, fmt.Errorf("%w: the auth of %s in %s is not user:password", ErrMissingKey, key, KeyDockerConfigJSON)
			}
			b = Basic{Username: user, Password: pass}
		}
		if b.Username == "" || b.Password == "" {
			return Basic{}, fmt.Errorf("%w: the entry for %s in %s has no username and password", ErrMissingKey, key, KeyDockerConfigJSON)
		}
		return b, nil
	}
	return Basic{}, fmt.Errorf("%w: %s has no entry for %s", ErrMissingKey, KeyDockerConfigJSON, host)
}

// normalizeHost turns a dockerconfig key ("https://host/v1/", "host") into host[:port].
func normalizeHost(key string) string {
	key = strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	host, _, _ := strings.Cut(key, "/")
	return strings.ToLower(host)
}

// sameRegistry says whether two hosts name one registry (Docker Hub goes
// by several names).
func sameRegistry(a, b string) bool {
	return imageref.CanonicalHost(a) == imageref.CanonicalHost(b)
}
