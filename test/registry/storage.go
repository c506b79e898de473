package registry

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"

	"github.com/distribution/distribution/v3/configuration"

	"github.com/oci-connector/oci-connector/test/harness"

	// The redirect storage middleware registers itself by import.
	_ "github.com/distribution/distribution/v3/registry/storage/driver/middleware/redirect"
)

// WithRedirectingStorage makes the registry answer blob GETs with a 307 to
// a storage server of its own on another port, as S3-backed Harbor, ECR and
// Docker Hub do. The storage server serves the registry's files only under
// the capability the registry's redirects carry, as a bucket serves only
// pre-signed URLs, and counts what it serves (Registry.StorageBytes).
func WithRedirectingStorage() Option { return func(o *options) { o.redirecting = true } }

// storageCapability is the path prefix of the registry's redirects; without
// it the storage server refuses, as a bucket refuses an unsigned URL.
const storageCapability = "/presigned-4f1c2a"

// startStorage serves dir's files on a new port under storageCapability,
// and returns the base URL redirects go to.
func startStorage(t harness.T, dir string, served *atomic.Int64) string {
	files := http.StripPrefix(storageCapability, http.FileServer(http.Dir(dir)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, storageCapability+"/") {
			http.Error(w, "unsigned", http.StatusForbidden)
			return
		}
		files.ServeHTTP(&countingWriter{ResponseWriter: w, n: served}, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + storageCapability
}

// storageMiddleware points the registry's blob redirects at base.
func storageMiddleware(base string) map[string][]configuration.Middleware {
	return map[string][]configuration.Middleware{"storage": {{
		Name:    "redirect",
		Options: configuration.Parameters{"baseurl": base},
	}}}
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n.Add(int64(n))
	return n, err
}
