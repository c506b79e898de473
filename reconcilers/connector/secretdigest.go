package connector

import (
	"encoding/hex"
	"sort"

	"golang.org/x/crypto/scrypt"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/lru"
)

// secretDigests computes, once per Secret version, a digest of a Secret's
// data for the proxy's revision template. Anyone who can read the Knative
// Service sees it, so it is scrypt, salted with the Secret's UID: a weak
// password cannot be guessed back from it at any useful speed.
type secretDigests struct {
	byUID   *lru.Cache
	compute func(s *corev1.Secret) string
}

type versionDigest struct {
	resourceVersion string
	digest          string
}

func newSecretDigests() *secretDigests {
	return &secretDigests{byUID: lru.New(trackedConnectors), compute: scryptDigest}
}

// Of returns the digest of the Secret's data.
func (d *secretDigests) Of(s *corev1.Secret) string {
	if v, ok := d.byUID.Get(s.UID); ok {
		if cached := v.(versionDigest); cached.resourceVersion == s.ResourceVersion && s.ResourceVersion != "" {
			return cached.digest
		}
	}
	digest := d.compute(s)
	d.byUID.Add(s.UID, versionDigest{resourceVersion: s.ResourceVersion, digest: digest})
	return digest
}

// Forget drops a deleted Secret's entry.
func (d *secretDigests) Forget(uid types.UID) {
	d.byUID.Remove(uid)
}

func scryptDigest(s *corev1.Secret) string {
	keys := make([]string, 0, len(s.Data))
	for k := range s.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var material []byte
	for _, k := range keys {
		// Length-prefixing keeps {"ab":"c"} and {"a":"bc"} apart.
		material = appendField(material, []byte(k))
		material = appendField(material, s.Data[k])
	}
	// N=2^14, r=8, p=1: the interactive-login cost from the scrypt paper.
	sum, err := scrypt.Key(material, []byte("oci-connector/"+string(s.UID)), 1<<14, 8, 1, 16)
	if err != nil {
		// Only reachable with invalid cost parameters, which are constants.
		panic(err)
	}
	return hex.EncodeToString(sum)
}

func appendField(b, field []byte) []byte {
	n := len(field)
	b = append(b, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	return append(b, field...)
}
