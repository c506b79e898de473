package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/reconcilers/connector/resources"
	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/objectstoreproc"
	"github.com/oci-connector/oci-connector/test/proxyproc"
	"github.com/oci-connector/oci-connector/test/registry"
)

// cachedSetup is a proxy binary with a cache, in front of the real
// registry through a gate the test can take down.
type cachedSetup struct {
	reg    *registry.Registry
	gate   *harness.Gate
	ns     string
	puller string
}

func newCachedSetup(t *testing.T, ns string) *cachedSetup {
	t.Helper()
	reg := registry.NewHtpasswd(t)
	cluster.EnsureNamespace(t, ns)
	cluster.BindClusterRole(t, ns, "puller", "oci-connector-puller", ns)
	cluster.BindClusterRole(t, "oci-connector", "oci-connector-proxy", "oci-connector-proxy", "")
	return &cachedSetup{
		reg:    reg,
		gate:   harness.StartGate(t, reg.Host, harness.GateOptions{}),
		ns:     ns,
		puller: cluster.Token(t, ns, "puller", v1alpha1.ConnectorAudience(ns, "harbor"), time.Hour),
	}
}

// start runs a proxy replica with the cache flags.
func (s *cachedSetup) start(t *testing.T, cacheArgs ...string) *proxyproc.Proc {
	t.Helper()
	return proxyproc.Start(t, proxyproc.Options{
		Upstream:   "http://" + s.gate.Addr,
		Namespace:  s.ns,
		Name:       "harbor",
		Kubeconfig: cluster.KubeconfigAs(t, "oci-connector", "oci-connector-proxy"),
		Secret:     registry.SecretData(),
		Args:       cacheArgs,
	})
}

// pull has crane pull the seed image through p as the puller, returning
// crane's error output when it fails.
func (s *cachedSetup) pull(t *testing.T, p *proxyproc.Proc, tag string) error {
	t.Helper()
	cmd := exec.Command(harness.Bin(t, "crane"), "pull", "--insecure", p.Host+"/"+registry.SeedRepository+":"+tag, filepath.Join(t.TempDir(), "image.tar"))
	cmd.Env = append(cmd.Environ(), "DOCKER_CONFIG="+dockerConfig(t, p.Host, s.puller))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// containerdResolve resolves the seed tag through p as containerd does
// (HEAD by tag, then GET by digest) and returns the digest.
func (s *cachedSetup) containerdResolve(t *testing.T, p *proxyproc.Proc) string {
	t.Helper()
	accept := "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json"
	do := func(method, path string) *http.Response {
		req, _ := http.NewRequest(method, "http://"+p.Host+path, nil)
		req.Header.Set("Authorization", basicHeader(s.puller))
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	head := do(http.MethodHead, "/v2/"+registry.SeedRepository+"/manifests/"+registry.SeedTag)
	digest := head.Header.Get("Docker-Content-Digest")
	if head.StatusCode != http.StatusOK || digest == "" {
		t.Fatalf("HEAD by tag: %d, digest %q\n%s", head.StatusCode, digest, harness.Tail(p.LogPath))
	}
	if get := do(http.MethodGet, "/v2/"+registry.SeedRepository+"/manifests/"+digest); get.StatusCode != http.StatusOK {
		t.Fatalf("GET by digest: %d\n%s", get.StatusCode, harness.Tail(p.LogPath))
	}
	return digest
}

// cacheResults are the cache fields of p's manifest GETs by tag so far.
func cacheResults(t *testing.T, p *proxyproc.Proc) []string {
	t.Helper()
	var out []string
	for _, r := range p.Requests(t) {
		if r.Method == "GET" && strings.Contains(r.Path, "/manifests/") && !strings.Contains(r.Path, "sha256:") {
			out = append(out, r.Cache+fmt.Sprint(r.Status))
		}
	}
	return out
}

// With the cache in a bucket, an image pulled once is pulled while the
// upstream is down, by the replica that pulled it and by a new one that
// never did (the proxy scaled to zero and back); an image never pulled
// fails clearly; and with the object store down and the upstream back,
// pulls go to the upstream.
func TestACacheInABucketServesEveryReplicaWhileTheUpstreamIsDown(t *testing.T) {
	s := newCachedSetup(t, "cache-s3")
	store := objectstoreproc.Start(t, "")
	creds := t.TempDir()
	proxyproc.WriteSecretVolume(t, creds, store.SecretData())
	args := func() []string { return store.ProxyArgs("cache-s3/harbor", creds, t.TempDir()) }

	first := s.start(t, args()...)
	if err := s.pull(t, first, registry.SeedTag); err != nil {
		t.Fatalf("pull with the upstream up: %v", err)
	}
	// containerd's way: HEAD by tag, then the manifest by digest.
	digest := s.containerdResolve(t, first)
	s.gate.Down()
	if err := s.pull(t, first, registry.SeedTag); err != nil {
		t.Fatalf("pull from the cache with the upstream down: %v\n%s", err, harness.Tail(first.LogPath))
	}
	second := s.start(t, args()...)
	if got := s.containerdResolve(t, second); got != digest {
		t.Fatalf("a new replica resolved the tag to %s with the upstream down, want %s", got, digest)
	}
	if err := s.pull(t, second, registry.SeedTag); err != nil {
		t.Fatalf("a new replica's pull from the bucket with the upstream down: %v", err)
	}
	if got := fmt.Sprint(cacheResults(t, first)); got != "[miss200 stale200]" {
		t.Errorf("the first replica's pulls by tag: %s, want [miss200 stale200]", got)
	}
	if got := fmt.Sprint(cacheResults(t, second)); got != "[stale200]" {
		t.Errorf("the second replica's pull by tag: %s, want [stale200]", got)
	}
	for _, r := range second.Requests(t) {
		if strings.Contains(r.Path, "/blobs/") && r.Cache != "hit" {
			t.Errorf("the second replica read a blob with cache %q: %+v", r.Cache, r)
		}
	}
	err := s.pull(t, second, "never-pulled")
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("an uncached image with the upstream down: %v, want the proxy's unreachable error", err)
	}

	store.Stop()
	s.gate.Up(t)
	if err := s.pull(t, second, registry.SeedTag); err != nil {
		t.Fatalf("with the object store down and the upstream up: %v", err)
	}
	assertNoPasswordInLog(t, first)
	assertNoPasswordInLog(t, second)
	assertNotInLog(t, second, store.SecretAccessKey)
}

// With an emptyDir cache, an image pulled once is pulled while the
// upstream is down, also after the proxy's container restarts (the
// emptyDir stays with the pod).
func TestAnEmptyDirCacheServesWhileTheUpstreamIsDown(t *testing.T) {
	s := newCachedSetup(t, "cache-emptydir")
	dir := t.TempDir()
	args := []string{"--cache-storage", "emptyDir", "--cache-size", "1Gi", "--cache-dir", dir}
	first := s.start(t, args...)
	if err := s.pull(t, first, registry.SeedTag); err != nil {
		t.Fatal(err)
	}
	s.gate.Down()
	if err := s.pull(t, first, registry.SeedTag); err != nil {
		t.Fatalf("pull from the cache with the upstream down: %v", err)
	}
	_ = first.Cmd.Process.Kill()
	restarted := s.start(t, args...)
	if err := s.pull(t, restarted, registry.SeedTag); err != nil {
		t.Fatalf("pull after a restart with the upstream down: %v", err)
	}
	if got := fmt.Sprint(cacheResults(t, restarted)); got != "[stale200]" {
		t.Errorf("the restarted proxy's pull by tag: %s, want [stale200]", got)
	}
}

// CacheReady: True for an emptyDir, and for a bucket the controller could
// write and read with the Secret's keys; False, naming the problem and
// never a key, for a missing Secret, wrong keys, or a store that is down;
// and the Connector stays Ready meanwhile as far as the cache goes.
func TestCacheReadyReportsTheObjectStore(t *testing.T) {
	ns := "cache-ready"
	cluster.EnsureNamespace(t, ns)
	reg := registry.NewHtpasswd(t)
	store := objectstoreproc.Start(t, "")
	ctx := context.Background()
	createSecret(t, ns, "upstream", registry.Username, registry.Password)

	withCache := func(name string, cache *v1alpha1.CacheSpec) {
		c := connectorSpec(ns, name, reg.URL, v1alpha1.AuthBasic, "upstream")
		c.Spec.Cache = cache
		if _, err := connectors.ConnectorV1alpha1().Connectors(ns).Create(ctx, c, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating Connector %s: %v", name, err)
		}
	}
	s3 := func(secret string) *v1alpha1.CacheSpec {
		return &v1alpha1.CacheSpec{Storage: v1alpha1.CacheStorageS3, Endpoint: store.Endpoint, Bucket: store.Bucket, Prefix: ns,
			SecretRef: &v1alpha1.SecretReference{Name: secret}}
	}
	keys := func(name string, data map[string]string) {
		if _, err := cluster.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: data}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	withCache("local", &v1alpha1.CacheSpec{Storage: v1alpha1.CacheStorageEmptyDir})
	waitForCondition(t, ns, "local", v1alpha1.ConditionCacheReady, corev1.ConditionTrue, "")

	keys("good-keys", store.SecretData())
	withCache("bucket", s3("good-keys"))
	waitForCondition(t, ns, "bucket", v1alpha1.ConditionCacheReady, corev1.ConditionTrue, "")
	ksvc := waitForService(t, ns, "c-bucket", func(*servingv1.Service) bool { return true })
	if ksvc.Spec.Template.Annotations[resources.CacheSecretDigestAnnotation] == "" {
		t.Errorf("the proxy's revision does not follow the cache's Secret")
	}

	withCache("no-secret", s3("absent"))
	waitForCondition(t, ns, "no-secret", v1alpha1.ConditionCacheReady, corev1.ConditionFalse, v1alpha1.ReasonCacheSecretNotFound)

	wrong := store.SecretData()
	wrong["accessKeyID"] = "AKIDWRONG"
	keys("wrong-keys", wrong)
	withCache("wrong", s3("wrong-keys"))
	c := waitForCondition(t, ns, "wrong", v1alpha1.ConditionCacheReady, corev1.ConditionFalse, v1alpha1.ReasonCacheUnavailable)
	cond := c.Status.GetCondition(v1alpha1.ConditionCacheReady)
	if !strings.Contains(cond.Message, "Access Key") || strings.Contains(cond.Message, store.SecretAccessKey) {
		t.Errorf("CacheReady message %q: want the store's refusal, never the key", cond.Message)
	}
	if ready := c.Status.GetCondition(v1alpha1.ConditionReady); ready != nil && ready.Reason == v1alpha1.ReasonCacheUnavailable {
		t.Errorf("a cache that is not ready made the Connector not Ready: %+v", ready)
	}

	// The store goes down: the next check (here, a change of the spec)
	// says so.
	store.Stop()
	patch := `{"spec":{"cache":{"prefix":"cache-ready-2"}}}`
	if _, err := connectors.ConnectorV1alpha1().Connectors(ns).Patch(ctx, "bucket", "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForCondition(t, ns, "bucket", v1alpha1.ConditionCacheReady, corev1.ConditionFalse, v1alpha1.ReasonCacheUnavailable)
	for _, name := range []string{"bucket", "wrong"} {
		assertNotInStatus(t, ns, name, store.SecretAccessKey)
	}
}

// assertNotInStatus checks that secret is in neither the Connector nor
// the events about its namespace.
func assertNotInStatus(t *testing.T, ns, name, secret string) {
	t.Helper()
	ctx := context.Background()
	c, err := connectors.ConnectorV1alpha1().Connectors(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	events, err := cluster.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(fmt.Sprintf("%+v %+v", c, events.Items), secret) {
		t.Errorf("a key of the object store appears in Connector %s/%s or its events", ns, name)
	}
}
