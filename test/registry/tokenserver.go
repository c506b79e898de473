package registry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	distributiontoken "github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/oci-connector/oci-connector/test/harness"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	tokenService    = "test-registry"
	tokenIssuer     = "test-token-server"
	tokenKeyID      = "test-token-key"
	defaultTokenTTL = 5 * time.Minute
)

// tokenServer is a minimal Docker registry token service: Basic auth in,
// a JWT granting the requested scopes out.
type tokenServer struct {
	*httptest.Server
	jwksPath string
	signer   jose.Signer
	ttl      time.Duration
}

// accessClaim is one granted scope, in the shape distribution reads.
type accessClaim struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

func newTokenServer(t harness.T, ttl time.Duration) *tokenServer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("token server key: %v", err)
	}
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: tokenKeyID, Algorithm: string(jose.ES256), Use: "sig"}}}
	raw, err := json.Marshal(jwks)
	if err != nil {
		t.Fatalf("token server jwks: %v", err)
	}
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatalf("writing jwks: %v", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), tokenKeyID))
	if err != nil {
		t.Fatalf("token server signer: %v", err)
	}
	ts := &tokenServer{jwksPath: path, signer: signer, ttl: ttl}
	ts.Server = httptest.NewServer(http.HandlerFunc(ts.serveToken))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *tokenServer) serveToken(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != Username || pass != Password {
		w.Header().Set("WWW-Authenticate", `Basic realm="test-token-server"`)
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}`, http.StatusUnauthorized)
		return
	}
	now := time.Now()
	claims := struct {
		jwt.Claims
		Access []accessClaim `json:"access"`
	}{
		Claims: jwt.Claims{
			Issuer:   tokenIssuer,
			Subject:  user,
			Audience: jwt.Audience{r.URL.Query().Get("service")},
			// The registry accepts a token for distribution's Leeway past its
			// exp: so that it lives ttl, exp is that much earlier.
			Expiry:    jwt.NewNumericDate(now.Add(ts.ttl - distributiontoken.Leeway)),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        rand.Text(),
		},
		Access: parseScopes(r.URL.Query()["scope"]),
	}
	token, err := jwt.Signed(ts.signer).Claims(claims).Serialize()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"token":        token,
		"access_token": token,
		"expires_in":   int(ts.ttl.Seconds()),
		"issued_at":    now.UTC().Format(time.RFC3339),
	})
}

// parseScopes reads "repository:name:pull,push" scopes; a valid user gets
// everything asked for, which is what a robot account with full rights gets.
func parseScopes(scopes []string) []accessClaim {
	var out []accessClaim
	for _, s := range scopes {
		for _, one := range strings.Fields(s) {
			typ, rest, ok := strings.Cut(one, ":")
			if !ok {
				continue
			}
			i := strings.LastIndex(rest, ":")
			if i < 0 {
				continue
			}
			out = append(out, accessClaim{Type: typ, Name: rest[:i], Actions: strings.Split(rest[i+1:], ",")})
		}
	}
	return out
}
