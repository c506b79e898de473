package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/test/auditproc"
	"github.com/oci-connector/oci-connector/test/proxyproc"
	"github.com/oci-connector/oci-connector/test/registry"
)

// startProxy runs the proxy binary for namespace/connector in front of reg,
// as the ServiceAccount oci-connector/oci-connector-proxy with the shipped
// ClusterRole, its credentials in a directory laid out like a Secret volume.
// It presents the audit token of namespace's oci-connector-proxy, as a
// proxy in that namespace does, to auditURL when set.
func startProxy(t *testing.T, reg *registry.Registry, namespace, connector string, extraArgs ...string) *proxyproc.Proc {
	return startProxyAuditing(t, reg, namespace, connector, "", extraArgs...)
}

func startProxyAuditing(t *testing.T, reg *registry.Registry, namespace, connector, auditURL string, extraArgs ...string) *proxyproc.Proc {
	t.Helper()
	cluster.BindClusterRole(t, "oci-connector", "oci-connector-proxy", "oci-connector-proxy", "")
	secret := registry.SecretData()
	if reg.CAPEM != nil {
		secret["ca.crt"] = string(reg.CAPEM)
	}
	return proxyproc.Start(t, proxyproc.Options{
		Upstream:       reg.URL,
		Namespace:      namespace,
		Name:           connector,
		Kubeconfig:     cluster.KubeconfigAs(t, "oci-connector", "oci-connector-proxy"),
		Secret:         secret,
		AuditTokenFile: auditproc.SenderTokenFile(t, cluster, namespace, "oci-connector-proxy"),
		AuditURL:       auditURL,
		Args:           extraArgs,
	})
}

func basicAuth(token string) authn.Authenticator {
	return authn.FromConfig(authn.AuthConfig{Username: "u", Password: token})
}

// proxySetup is one Connector's proxy with ServiceAccounts of every kind.
type proxySetup struct {
	reg                                  *registry.Registry
	proxy                                *proxyproc.Proc
	ns                                   string
	puller, pusher, nobody, otherNSToken string
}

func setupProxy(t *testing.T, reg *registry.Registry, ns string, extraArgs ...string) *proxySetup {
	t.Helper()
	return setupProxyAuditing(t, reg, ns, "", extraArgs...)
}

// setupProxyAuditing is setupProxy with the audit function at auditURL,
// which gets the proxy's audit token.
func setupProxyAuditing(t *testing.T, reg *registry.Registry, ns, auditURL string, extraArgs ...string) *proxySetup {
	t.Helper()
	cluster.EnsureNamespace(t, ns)
	cluster.BindClusterRole(t, ns, "puller", "oci-connector-puller", ns)
	cluster.BindClusterRole(t, ns, "pusher", "oci-connector-pusher", ns)
	// A puller elsewhere: its RoleBinding is in its own namespace, not the Connector's.
	cluster.BindClusterRole(t, ns+"-other", "puller", "oci-connector-puller", ns+"-other")
	s := &proxySetup{reg: reg, ns: ns, proxy: startProxyAuditing(t, reg, ns, "harbor", auditURL, extraArgs...)}
	s.puller = cluster.Token(t, ns, "puller", v1alpha1.ConnectorAudience(ns, "harbor"), time.Hour)
	s.pusher = cluster.Token(t, ns, "pusher", v1alpha1.ConnectorAudience(ns, "harbor"), time.Hour)
	s.nobody = cluster.Token(t, ns, "nobody", v1alpha1.ConnectorAudience(ns, "harbor"), time.Hour)
	s.otherNSToken = cluster.Token(t, ns+"-other", "puller", v1alpha1.ConnectorAudience(ns, "harbor"), time.Hour)
	return s
}

func (s *proxySetup) ref(t *testing.T, repoAndTag string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s.proxy.Host+"/"+repoAndTag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// A ServiceAccount with the puller role pulls the seeded image through the
// proxy, and one with the pusher role pushes a new one, with go-containerregistry
// (crane's library) as the client, for both upstream auth flows.
func TestProxyPullAndPush(t *testing.T) {
	for _, tc := range []struct {
		name string
		reg  *registry.Registry
	}{
		{"htpasswd", registry.NewHtpasswd(t)},
		{"token", registry.NewTokenAuth(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := setupProxy(t, tc.reg, "proxy-"+tc.name)

			img, err := remote.Image(s.ref(t, registry.SeedRepository+":"+registry.SeedTag), remote.WithAuth(basicAuth(s.puller)))
			if err != nil {
				t.Fatalf("pull through the proxy: %v", err)
			}
			if d, _ := img.Digest(); d.String() != tc.reg.SeedDigest {
				t.Fatalf("pulled digest %s, want %s", d, tc.reg.SeedDigest)
			}
			layers, err := img.Layers()
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range layers {
				rc, err := l.Compressed()
				if err != nil {
					t.Fatalf("layer through the proxy: %v", err)
				}
				// Reading to the end verifies the layer's digest.
				if _, err := io.Copy(io.Discard, rc); err != nil {
					t.Fatalf("reading a layer: %v", err)
				}
				rc.Close()
			}

			// Bearer works as well as Basic.
			bearer := authn.FromConfig(authn.AuthConfig{RegistryToken: s.puller})
			if _, err := remote.Head(s.ref(t, registry.SeedRepository+":"+registry.SeedTag), remote.WithAuth(bearer)); err != nil {
				t.Fatalf("HEAD with Bearer: %v", err)
			}

			pushed, err := random.Image(4096, 2)
			if err != nil {
				t.Fatal(err)
			}
			dst := s.ref(t, "testing/pushed:v1")
			if err := remote.Write(dst, pushed, remote.WithAuth(basicAuth(s.pusher))); err != nil {
				t.Fatalf("push through the proxy: %v", err)
			}
			// The image is really upstream: read it there directly.
			direct, err := name.ParseReference(tc.reg.Host+"/testing/pushed:v1", name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			got, err := remote.Image(direct, remote.WithAuth(registry.RobotAuth()))
			if err != nil {
				t.Fatalf("the pushed image is not upstream: %v", err)
			}
			want, _ := pushed.Digest()
			if d, _ := got.Digest(); d != want {
				t.Fatalf("upstream has %s, pushed %s", d, want)
			}

			// Tag listing goes through, and pagination links point at the proxy.
			tags, err := remote.List(s.ref(t, "testing/pushed:v1").Context(), remote.WithAuth(basicAuth(s.puller)))
			if err != nil || len(tags) != 1 || tags[0] != "v1" {
				t.Fatalf("tags = %v, %v", tags, err)
			}
			assertNoPasswordInLog(t, s.proxy)
		})
	}
}

// Every refusal path answers with the OCI error JSON and the right status,
// before anything reaches the upstream, and never shows the upstream password.
func TestProxyRefusals(t *testing.T) {
	reg := registry.NewHtpasswd(t)
	s := setupProxy(t, reg, "proxy-refusals", "--repository", "testing/*")
	apiServerToken := cluster.Token(t, s.ns, "puller", "", time.Hour)
	expired := cluster.SignToken(t, s.ns, "puller", v1alpha1.ConnectorAudience(s.ns, "harbor"), time.Now().Add(-time.Minute))
	seedManifest := "/v2/" + registry.SeedRepository + "/manifests/" + registry.SeedTag

	tests := []struct {
		name       string
		method     string
		path       string
		auth       string // the Authorization header
		wantStatus int
		wantCode   string
		wantInMsg  string
	}{
		{"no token on /v2/", "GET", "/v2/", "", 401, "UNAUTHORIZED", "ServiceAccount token"},
		{"no token on a manifest", "GET", seedManifest, "", 401, "UNAUTHORIZED", ""},
		{"a token that is not a token", "GET", seedManifest, bearerHeader("not-a-token"), 401, "UNAUTHORIZED", "audience"},
		{"a Basic login with an empty password", "GET", seedManifest, "Basic " + b64("u:"), 401, "UNAUTHORIZED", ""},
		{"an expired token", "GET", seedManifest, basicHeader(expired), 401, "UNAUTHORIZED", "unexpired"},
		{"a token for the API server's audience", "GET", seedManifest, basicHeader(apiServerToken), 401, "UNAUTHORIZED", "oci-connector.dev"},
		{"no RBAC", "GET", seedManifest, basicHeader(s.nobody), 403, "DENIED", "oci-connector-puller"},
		{"RBAC in another namespace only", "GET", seedManifest, basicHeader(s.otherNSToken), 403, "DENIED", "may not pull"},
		{"out of the repository scope", "GET", "/v2/private/app/manifests/v1", basicHeader(s.puller), 403, "DENIED", "outside the scope"},
		{"a push with pull-only rights", "POST", "/v2/testing/new/blobs/uploads/", basicHeader(s.puller), 403, "DENIED", "oci-connector-pusher"},
		{"a delete with pull-only rights", "DELETE", seedManifest, basicHeader(s.puller), 403, "DENIED", "may not push"},
		{"a malformed name", "GET", "/v2/Testing/BusyBox/manifests/v1", basicHeader(s.puller), 400, "NAME_INVALID", ""},
		{"a malformed digest", "GET", "/v2/testing/busybox/blobs/sha256:xyz!", basicHeader(s.puller), 400, "DIGEST_INVALID", ""},
		{"a malformed tag", "GET", "/v2/testing/busybox/manifests/-x", basicHeader(s.puller), 400, "MANIFEST_INVALID", ""},
		{"the catalog", "GET", "/v2/_catalog", basicHeader(s.puller), 403, "DENIED", "catalog"},
		{"a mount from outside the scope", "POST", "/v2/testing/new/blobs/uploads/?mount=sha256:" + strings.Repeat("a", 64) + "&from=private/app", basicHeader(s.pusher), 403, "DENIED", "mount source"},
		{"an unknown method", "OPTIONS", seedManifest, basicHeader(s.puller), 405, "UNSUPPORTED", ""},
		{"a second mount source after a semicolon", "POST", "/v2/testing/new/blobs/uploads/?mount=sha256:" + strings.Repeat("a", 64) + "&from=testing/busybox;from=private/app", basicHeader(s.pusher), 400, "UNSUPPORTED", "does not parse"},
		{"a repeated mount source", "POST", "/v2/testing/new/blobs/uploads/?mount=sha256:" + strings.Repeat("a", 64) + "&from=testing/busybox&from=private/app", basicHeader(s.pusher), 400, "UNSUPPORTED", `"from" 2 times`},
		{"an upload session named ..", "PATCH", "/v2/testing/new/blobs/uploads/%2E%2E", basicHeader(s.pusher), 404, "UNSUPPORTED", "invalid upload session"},
		{"an upload session named .", "PUT", "/v2/testing/new/blobs/uploads/%2E?digest=sha256:" + strings.Repeat("a", 64), basicHeader(s.pusher), 404, "UNSUPPORTED", "invalid upload session"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, "http://"+s.proxy.Host+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			var oci struct {
				Errors []struct{ Code, Message string }
			}
			if err := json.Unmarshal(body, &oci); err != nil || len(oci.Errors) != 1 || oci.Errors[0].Code != tc.wantCode {
				t.Fatalf("body %s, want one OCI error %s", body, tc.wantCode)
			}
			if !strings.Contains(oci.Errors[0].Message, tc.wantInMsg) {
				t.Errorf("message %q does not say %q", oci.Errors[0].Message, tc.wantInMsg)
			}
			if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") != `Basic realm="proxy-refusals/harbor"` {
				t.Errorf("challenge = %q", resp.Header.Get("WWW-Authenticate"))
			}
			if bytes.Contains(body, []byte(registry.Password)) {
				t.Fatal("the response holds the upstream password")
			}
		})
	}

	// With the right token the same manifest is served: the refusals above
	// are about the caller, not a broken proxy.
	req, _ := http.NewRequest("GET", "http://"+s.proxy.Host+seedManifest, nil)
	req.Header.Set("Authorization", basicHeader(s.puller))
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Docker-Content-Digest") != reg.SeedDigest {
		t.Fatalf("allowed pull: status %d, digest %q", resp.StatusCode, resp.Header.Get("Docker-Content-Digest"))
	}
	if resp.Header.Get("WWW-Authenticate") != "" {
		t.Error("the upstream's challenge reached the client")
	}
	assertNoPasswordInLog(t, s.proxy)
}

// skopeo, a real client from Debian, copies through the proxy in both
// directions, logging in with a ServiceAccount token as the password.
func TestProxyWithSkopeo(t *testing.T) {
	skopeo, err := exec.LookPath("skopeo")
	if err != nil {
		t.Fatal("skopeo is not installed; .ci/run installs it (apt-get install skopeo)")
	}
	reg := registry.NewTokenAuth(t)
	s := setupProxy(t, reg, "proxy-skopeo")
	ociDir := filepath.Join(t.TempDir(), "image")
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(skopeo, append([]string{"--insecure-policy"}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("skopeo %s: %v\n%s", redactTokens(args), err, out)
		}
	}
	run("copy", "--src-tls-verify=false", "--src-creds", "u:"+s.puller,
		"docker://"+s.proxy.Host+"/"+registry.SeedRepository+":"+registry.SeedTag, "oci:"+ociDir+":seed")
	run("copy", "--dest-tls-verify=false", "--dest-creds", "u:"+s.pusher,
		"oci:"+ociDir+":seed", "docker://"+s.proxy.Host+"/testing/from-skopeo:v1")
	run("inspect", "--tls-verify=false", "--creds", "u:"+s.puller, "docker://"+s.proxy.Host+"/testing/from-skopeo:v1")
	assertNoPasswordInLog(t, s.proxy)
}

func assertNoPasswordInLog(t *testing.T, p *proxyproc.Proc) {
	t.Helper()
	assertNotInLog(t, p, registry.Password)
}

// assertNotInLog checks that the proxy's log, which holds requests, does
// not hold secret.
func assertNotInLog(t *testing.T, p *proxyproc.Proc, secret string) {
	t.Helper()
	raw, err := os.ReadFile(p.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secret)) {
		t.Fatal("the proxy's log holds a credential")
	}
	if !bytes.Contains(raw, []byte(`"msg":"request"`)) {
		t.Fatal("the proxy logged no request; the log check above proves nothing")
	}
}

func basicHeader(token string) string  { return "Basic " + b64("u:"+token) }
func bearerHeader(token string) string { return "Bearer " + token }

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// redactTokens hides the u:<token> credentials of a command line in messages.
func redactTokens(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.HasPrefix(a, "u:") {
			a = "u:<token>"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
