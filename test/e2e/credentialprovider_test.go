package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	credentialproviderv1 "k8s.io/kubelet/pkg/apis/credentialprovider/v1"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/registry"
)

// The kubelet's credential provider, as the kubelet runs it: the pulling
// pod's ServiceAccount token for the node audience in a
// CredentialProviderRequest on stdin, its answer on stdout. containerd
// pulls through a cluster Connector's proxy with that answer; no Secret is
// involved anywhere.
func TestCredentialProviderAnswerPullsThroughTheProxy(t *testing.T) {
	ctr, err := exec.LookPath("ctr")
	if err != nil {
		t.Fatal("ctr is not installed; .ci/run installs containerd")
	}
	reg := registry.NewHtpasswd(t)
	ns := "node-pulls"
	cluster.EnsureNamespace(t, ns)
	// A cluster Connector's proxy: its own audience and the node audience.
	proxy := startProxy(t, reg, ns, "harbor", "--audience", v1alpha1.ConnectorAudience(ns, "harbor")+","+v1alpha1.NodeAudience)
	cluster.BindClusterRole(t, ns, "app", connectorapi.PullerClusterRole, ns)
	// What the kubelet mints for the pod's ServiceAccount (KEP-4412).
	token := cluster.Token(t, ns, "app", v1alpha1.NodeAudience, 10*time.Minute)
	image := proxy.Host + "/" + registry.SeedRepository + ":" + registry.SeedTag

	req, err := json.Marshal(credentialproviderv1.CredentialProviderRequest{
		TypeMeta:            metav1.TypeMeta{APIVersion: credentialproviderv1.SchemeGroupVersion.String(), Kind: "CredentialProviderRequest"},
		Image:               image,
		ServiceAccountToken: token,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, harness.GoBinary(t, "./node/credentialprovider"))
	cmd.Stdin = bytes.NewReader(req)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the credential provider: %v", err)
	}
	var resp credentialproviderv1.CredentialProviderResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("its answer %s: %v", out, err)
	}
	auth, ok := resp.Auth[proxy.Host]
	if !ok || resp.CacheDuration == nil || resp.CacheDuration.Duration > 10*time.Minute {
		t.Fatalf("answer %+v, want auth for %s cached no longer than the token", resp, proxy.Host)
	}

	// The RBAC the nodes need for the audiences is accepted as shipped.
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := cluster.Kubectl(t, "apply", "--dry-run=server", "-f",
		filepath.Join(root, "config", "examples", "node", "kubelet-audience-rbac.yaml")); err != nil {
		t.Fatalf("the kubelet audience RBAC: %v\n%s", err, out)
	}

	socket := startContainerd(t)
	got := runTool(t, nil, ctr, "--address", socket, "images", "pull", "--plain-http", "--snapshotter", "native",
		"--user", auth.Username+":"+auth.Password, image)
	if !strings.Contains(got, "done") {
		t.Fatalf("ctr pull said: %s", got)
	}
}
