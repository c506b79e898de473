// Package objectstoreproc runs the tests' S3-compatible object store
// (test/tools/cmd/objectstore, gofakes3) as a process of its own, as a
// user's object store would be.
package objectstoreproc

import (
	"crypto/rand"
	"encoding/hex"

	"github.com/oci-connector/oci-connector/pkg/objectstore"
	"github.com/oci-connector/oci-connector/test/harness"
)

// Proc is a running object store with one bucket.
type Proc struct {
	*harness.Server
	// Endpoint is its URL, Bucket its bucket.
	Endpoint, Bucket string
	// AccessKeyID and SecretAccessKey are the keys it takes.
	AccessKeyID, SecretAccessKey string
}

// Start runs an object store on addr (127.0.0.1:<free> when empty) until
// t's cleanup.
func Start(t harness.T, addr string) *Proc {
	t.Helper()
	if addr == "" {
		addr = harness.FreeAddr(t)
	}
	id := "AKID" + randomHex(8)
	srv := harness.StartServer(t, harness.Bin(t, "objectstore"), []string{"--listen", addr, "--bucket", "cache", "--access-key-id", id}, nil, addr)
	return &Proc{Server: srv, Endpoint: "http://" + addr, Bucket: "cache", AccessKeyID: id, SecretAccessKey: randomHex(20)}
}

// SecretData is the Secret a Connector names for this store.
func (p *Proc) SecretData() map[string]string {
	return map[string]string{objectstore.KeyAccessKeyID: p.AccessKeyID, objectstore.KeySecretAccessKey: p.SecretAccessKey}
}

// ProxyArgs are the proxy's flags for a cache in this store under prefix,
// its Secret mounted at credentialsDir.
func (p *Proc) ProxyArgs(prefix, credentialsDir, stagingDir string) []string {
	return []string{"--cache-storage", "s3", "--cache-s3-endpoint", p.Endpoint, "--cache-s3-bucket", p.Bucket,
		"--cache-s3-prefix", prefix, "--cache-s3-credentials-dir", credentialsDir, "--cache-staging-dir", stagingDir}
}

// Store is a client of the bucket under prefix, for tests that look.
func (p *Proc) Store(t harness.T, prefix string) *objectstore.Store {
	t.Helper()
	s, err := objectstore.New(objectstore.Config{Endpoint: p.Endpoint, Bucket: p.Bucket, Prefix: prefix, AccessKeyID: p.AccessKeyID, SecretAccessKey: p.SecretAccessKey})
	if err != nil {
		t.Fatalf("%v", err)
	}
	return s
}

// Stop kills the store: it is down.
func (p *Proc) Stop() {
	_ = p.Cmd.Process.Kill()
	_, _ = p.Cmd.Process.Wait()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
