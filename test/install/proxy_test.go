package install

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/test/controlplane"
	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/registry"
	"github.com/oci-connector/oci-connector/test/shipped"
)

// The proxy binary runs from the pod spec the controller wrote into its
// Knative Service, as a revision would run it: that environment, the
// Secret and the projected audit token where its volumes say, and the
// ServiceAccount and RBAC the controller made for it. It serves a pull.
func TestProxyRunsFromItsKnativeService(t *testing.T) {
	ns := "proxy-as-shipped"
	cluster.EnsureNamespace(t, ns)
	cluster.EnsureServiceAccount(t, ns, "app")
	cluster.BindClusterRole(t, ns, "app", "oci-connector-puller", ns)
	reg := registry.NewHtpasswd(t)
	c := controlplane.ReadyConnector(t, cluster.Config, connectorFor(ns, "harbor", reg), registry.SecretData(), func(string) {})
	ksvc := proxyService(t, c)

	w := shipped.Workload{Namespace: ns, Spec: ksvc.Spec.Template.Spec.PodSpec}
	dir := t.TempDir()
	w.VolumeDirs(t, dir)
	w.ProjectedTokens(t, dir, mintFor(t, w))
	for _, v := range w.Spec.Volumes {
		if v.Secret == nil {
			continue
		}
		for k, val := range registry.SecretData() {
			if err := os.WriteFile(filepath.Join(dir, v.Name, k), []byte(val), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	env := append(w.Env(t, image, dir), "KUBECONFIG="+cluster.KubeconfigAs(t, ns, w.ServiceAccount()))
	addr := harness.FreeAddr(t)
	// Knative sets PORT; the flag keeps the test server on 127.0.0.1.
	harness.StartServer(t, harness.GoBinary(t, "./functions/proxy"), []string{"--listen", addr}, env, addr)

	token := cluster.Token(t, ns, "app", v1alpha1.ConnectorAudience(ns, "harbor"), time.Hour)
	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"the app's token", token, http.StatusOK},
	} {
		req, _ := http.NewRequest("GET", "http://"+addr+"/v2/"+registry.SeedRepository+"/manifests/"+registry.SeedTag, nil)
		req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
		if tc.token != "" {
			req.SetBasicAuth("u", tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
}
