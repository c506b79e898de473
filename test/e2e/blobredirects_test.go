package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/proxyproc"
	"github.com/oci-connector/oci-connector/test/registry"
)

// An upstream that redirects blob GETs to storage, as S3-backed registries
// do, pulled through by crane, skopeo and containerd. With blobRedirects:
// follow the proxy fetches the blobs itself; with pass it hands each client
// the redirect, the blobs' bytes go from storage to the client and none
// through the proxy, and every pull is still on the record.
func TestBlobRedirectsFollowedOrPassed(t *testing.T) {
	ctr, err := exec.LookPath("ctr")
	if err != nil {
		t.Fatal("ctr is not installed; .ci/run installs containerd")
	}
	reg := registry.NewHtpasswd(t, registry.WithRedirectingStorage())
	for _, mode := range []string{"follow", "pass"} {
		t.Run(mode, func(t *testing.T) {
			var pulled atomic.Int64
			sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				received, ok := events.ReceiveAll(w, r)
				if !ok {
					return
				}
				for _, e := range received {
					if e.Type() == events.ImagePulled {
						pulled.Add(1)
					}
				}
				w.WriteHeader(http.StatusAccepted)
			}))
			defer sink.Close()
			s := setupProxy(t, reg, "blob-redirects-"+mode, "--blob-redirects", mode, "--sink", sink.URL)
			image := s.proxy.Host + "/" + registry.SeedRepository + ":" + registry.SeedTag
			storageBefore := reg.StorageBytes.Load()

			dir := t.TempDir()
			runTool(t, []string{"DOCKER_CONFIG=" + dockerConfig(t, s.proxy.Host, s.puller)}, harness.Bin(t, "crane"),
				"pull", "--insecure", image, filepath.Join(dir, "crane.tar"))
			runTool(t, nil, "skopeo", "copy", "--src-tls-verify=false", "--src-creds", "u:"+s.puller,
				"docker://"+image, "oci:"+filepath.Join(dir, "skopeo"))
			socket := startContainerd(t)
			if out := runTool(t, nil, ctr, "--address", socket, "images", "pull", "--plain-http", "--snapshotter", "native",
				"--user", "u:"+s.puller, image); !strings.Contains(out, "done") {
				t.Fatalf("ctr pull said: %s", out)
			}

			blobBytes, redirects := blobTraffic(t, s.proxy)
			fromStorage := reg.StorageBytes.Load() - storageBefore
			switch mode {
			case "follow":
				if blobBytes == 0 || redirects != 0 || fromStorage == 0 {
					t.Errorf("follow: the proxy sent %d blob bytes and %d redirects; storage served %d bytes", blobBytes, redirects, fromStorage)
				}
			case "pass":
				if blobBytes != 0 || redirects < 3 || fromStorage == 0 {
					t.Errorf("pass: the proxy sent %d blob bytes and %d redirects (want none and one per client at least); storage served %d bytes", blobBytes, redirects, fromStorage)
				}
			}
			waitFor(t, "an image.pulled event per client", func(context.Context) (bool, string) {
				return pulled.Load() >= 3, ""
			})
		})
	}
}

// blobTraffic reads the proxy's access log: the bytes it sent for blob
// GETs it answered 200, and the blob GETs it answered with a redirect.
func blobTraffic(t *testing.T, p *proxyproc.Proc) (bytes int64, redirects int) {
	t.Helper()
	for _, r := range p.Requests(t) {
		if r.Method != http.MethodGet || !strings.Contains(r.Path, "/blobs/") {
			continue
		}
		switch r.Status {
		case http.StatusOK, http.StatusPartialContent:
			bytes += r.Bytes
		case http.StatusTemporaryRedirect:
			redirects++
		}
	}
	return bytes, redirects
}
