package kube

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oci-connector/oci-connector/test/harness"
)

// SignToken signs a ServiceAccount token with the API server's own key, with
// any expiry: TokenRequest refuses lifetimes under ten minutes, and tests of
// expired tokens cannot wait that long. The claims are those the API server
// puts in a token it mints.
func (c *Cluster) SignToken(t harness.T, namespace, serviceAccount, audience string, expires time.Time) string {
	t.Helper()
	c.EnsureServiceAccount(t, namespace, serviceAccount)
	sa, err := c.Client.CoreV1().ServiceAccounts(namespace).Get(context.Background(), serviceAccount, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading ServiceAccount %s/%s: %v", namespace, serviceAccount, err)
	}
	raw, err := os.ReadFile(filepath.Join(c.Dir, "sa.key"))
	if err != nil {
		t.Fatalf("reading the signing key: %v", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		t.Fatalf("the signing key is not PEM")
	}
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("parsing the signing key: %v", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: (*rsa.PrivateKey)(key)}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatalf("signer: %v", err)
	}
	issued := expires.Add(-time.Hour)
	claims := struct {
		jwt.Claims
		Kubernetes map[string]any `json:"kubernetes.io"`
	}{
		Claims: jwt.Claims{
			Issuer:    Issuer,
			Subject:   "system:serviceaccount:" + namespace + ":" + serviceAccount,
			Audience:  jwt.Audience{audience},
			Expiry:    jwt.NewNumericDate(expires),
			IssuedAt:  jwt.NewNumericDate(issued),
			NotBefore: jwt.NewNumericDate(issued),
		},
		Kubernetes: map[string]any{
			"namespace":      namespace,
			"serviceaccount": map[string]string{"name": serviceAccount, "uid": string(sa.UID)},
		},
	}
	token, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	return token
}
