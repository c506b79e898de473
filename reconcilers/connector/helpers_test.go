package connector

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/oci-connector/oci-connector/pkg/credentials"
)

func goodCredsFor(t *testing.T, s *corev1.Secret) credentials.Basic {
	t.Helper()
	b, err := credentials.FromSecretData(s.Data, "harbor.example.com")
	if err != nil {
		t.Fatal(err)
	}
	return b
}
