package connector

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	. "github.com/oci-connector/oci-connector/pkg/testing"
)

func TestSecretDigest(t *testing.T) {
	a := NewSecret("ns", "s", map[string]string{"username": "robot", "password": "s3cret"})
	b := NewSecret("ns", "s", map[string]string{"username": "robot", "password": "other"})
	split := NewSecret("ns", "s", map[string]string{"usernamerobot": "", "password": "s3cret"})

	if scryptDigest(a) == scryptDigest(b) {
		t.Error("different passwords gave the same digest")
	}
	if scryptDigest(a) == scryptDigest(split) {
		t.Error("moving bytes from value to key kept the digest")
	}
	if scryptDigest(a) != scryptDigest(a.DeepCopy()) {
		t.Error("the same data gave different digests")
	}
	other := a.DeepCopy()
	other.UID = "another-uid"
	if scryptDigest(a) == scryptDigest(other) {
		t.Error("the digest is not salted with the Secret's UID")
	}
	if d := scryptDigest(a); strings.Contains(d, "s3cret") || len(d) != 32 {
		t.Errorf("digest %q is not 16 hex bytes", d)
	}

	calls := 0
	d := newSecretDigests()
	d.compute = func(s2 *corev1.Secret) string { calls++; return scryptDigest(s2) }
	d.Of(a)
	d.Of(a)
	if calls != 1 {
		t.Errorf("the same Secret version was digested %d times, want 1", calls)
	}
	a.ResourceVersion = "2"
	d.Of(a)
	if calls != 2 {
		t.Errorf("a new Secret version was not digested again")
	}
}
