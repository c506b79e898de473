package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/test/registry"
)

// setPullSecrets sets a Connector's spec.pullSecrets, retrying while the
// validation webhook has not yet seen a ConfigMap change that allows it.
func setPullSecrets(t *testing.T, ns, name string, spec *v1alpha1.PullSecretsSpec) {
	t.Helper()
	waitFor(t, "spec.pullSecrets of "+ns+"/"+name+" accepted", func(ctx context.Context) (bool, string) {
		c, err := connectors.ConnectorV1alpha1().Connectors(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		c.Spec.PullSecrets = spec
		if _, err := connectors.ConnectorV1alpha1().Connectors(ns).Update(ctx, c, metav1.UpdateOptions{}); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

// pullSecretOf waits, up to patience, for the ServiceAccount to reference a
// pull secret of the Connector, and returns it.
func pullSecretOf(t *testing.T, ns, sa string, patience time.Duration) *corev1.Secret {
	t.Helper()
	var found *corev1.Secret
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, patience, true, func(ctx context.Context) (bool, error) {
		account, err := cluster.Client.CoreV1().ServiceAccounts(ns).Get(ctx, sa, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		for _, ref := range account.ImagePullSecrets {
			s, err := cluster.Client.CoreV1().Secrets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
			if err == nil && s.Labels["oci-connector.dev/connector-name"] != "" {
				found = s
				return true, nil
			}
		}
		last = fmt.Sprintf("imagePullSecrets %v", account.ImagePullSecrets)
		return false, nil
	})
	if err != nil {
		raw, _ := os.ReadFile(tokenrefreshServer.LogPath)
		t.Fatalf("no pull secret on %s/%s within %s; last: %s\ntokenrefresh said:\n%s", ns, sa, patience, last, raw)
	}
	return found
}

// tokenIn reads the proxy token a pull secret holds for host.
func tokenIn(t *testing.T, s *corev1.Secret, host string) string {
	t.Helper()
	var config struct {
		Auths map[string]struct{ Username, Password string }
	}
	if err := json.Unmarshal(s.Data[corev1.DockerConfigJsonKey], &config); err != nil {
		t.Fatalf("pull secret %s: %v", s.Name, err)
	}
	a, ok := config.Auths[host]
	if !ok || a.Password == "" {
		t.Fatalf("pull secret %s has no login for %s: %v", s.Name, host, config.Auths)
	}
	return a.Password
}

// The vendor helper's scenario, done by tokenrefresh: every ServiceAccount
// of the selected namespaces that may pull gets a pull secret for the proxy,
// beside the pull secrets it had; a new one within seconds; tokens are
// renewed before they expire; what stops matching is removed.
func TestPullSecretsFollowServiceAccounts(t *testing.T) {
	reg := registry.NewHtpasswd(t)
	platform, team := "ps-platform", "ps-team-a"
	// The platform team's Connector serves other namespaces: the cluster
	// admin lists its namespace.
	setClusterConnectorNamespaces(t, connectorapi.SystemNamespace, platform)
	proxyHost := readyConnector(t, platform, "harbor", reg)
	// Tokens live 10 minutes (the API server's least) and are renewed when
	// less than 9m56s remain: about every 4 seconds, so the test sees it.
	setPullSecrets(t, platform, "harbor", &v1alpha1.PullSecretsSpec{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}},
		ServiceAccounts:   []string{"*"},
		TokenTTL:          &metav1.Duration{Duration: 10 * time.Minute},
		RefreshBefore:     &metav1.Duration{Duration: 9*time.Minute + 56*time.Second},
	})
	if _, err := cluster.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: team, Labels: map[string]string{"team": "a"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// default may pull and has a pull secret of its own; nopull may not.
	if _, err := cluster.Client.CoreV1().ServiceAccounts(team).Create(context.Background(), &corev1.ServiceAccount{
		ObjectMeta:       metav1.ObjectMeta{Name: "default"},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "set-by-hand"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cluster.BindClusterRole(t, team, "default", "oci-connector-puller", platform)
	cluster.EnsureServiceAccount(t, team, "nopull")

	first := pullSecretOf(t, team, "default", 30*time.Second)
	if first.Type != corev1.SecretTypeDockerConfigJson {
		t.Errorf("pull secret type %s", first.Type)
	}
	token := tokenIn(t, first, proxyHost)
	tokenIn(t, first, "c-harbor."+platform+".svc.cluster.local")
	sa, _ := cluster.Client.CoreV1().ServiceAccounts(team).Get(context.Background(), "default", metav1.GetOptions{})
	if !slices.Contains(sa.ImagePullSecrets, corev1.LocalObjectReference{Name: "set-by-hand"}) {
		t.Errorf("the pull secret set by hand was dropped: %v", sa.ImagePullSecrets)
	}
	if nopull, _ := cluster.Client.CoreV1().ServiceAccounts(team).Get(context.Background(), "nopull", metav1.GetOptions{}); len(nopull.ImagePullSecrets) != 0 {
		t.Errorf("a ServiceAccount without pull rights got %v", nopull.ImagePullSecrets)
	}

	// The token is the ServiceAccount's, for the proxy's audience: containerd
	// pulls through a proxy for this Connector with it.
	t.Run("containerd pulls with the minted secret", func(t *testing.T) {
		ctr, err := exec.LookPath("ctr")
		if err != nil {
			t.Fatal("ctr is not installed; .ci/run installs containerd")
		}
		socket := startContainerd(t)
		proxy := startProxy(t, reg, platform, "harbor")
		image := proxy.Host + "/" + registry.SeedRepository + ":" + registry.SeedTag
		out := runTool(t, nil, ctr, "--address", socket, "images", "pull", "--plain-http", "--snapshotter", "native", "--user", "u:"+token, image)
		if !strings.Contains(out, "done") {
			t.Fatalf("ctr pull said: %s", out)
		}
	})

	t.Run("a token near expiry is renewed", func(t *testing.T) {
		before := first.Annotations["oci-connector.dev/token-expires"]
		waitFor(t, "a renewed token", func(ctx context.Context) (bool, string) {
			s, err := cluster.Client.CoreV1().Secrets(team).Get(ctx, first.Name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			now := s.Annotations["oci-connector.dev/token-expires"]
			return now != before && tokenIn(t, s, proxyHost) != token, now
		})
	})

	t.Run("a new ServiceAccount has its secret within 5 seconds", func(t *testing.T) {
		if _, err := cluster.Client.CoreV1().ServiceAccounts(team).Create(context.Background(), &corev1.ServiceAccount{
			ObjectMeta: metav1.ObjectMeta{Name: "newcomer"},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		cluster.BindClusterRole(t, team, "newcomer", "oci-connector-puller", platform)
		pullSecretOf(t, team, "newcomer", 5*time.Second)
	})

	t.Run("a namespace no longer selected loses them", func(t *testing.T) {
		ns, _ := cluster.Client.CoreV1().Namespaces().Get(context.Background(), team, metav1.GetOptions{})
		delete(ns.Labels, "team")
		if _, err := cluster.Client.CoreV1().Namespaces().Update(context.Background(), ns, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the pull secrets removed", func(ctx context.Context) (bool, string) {
			list, _ := cluster.Client.CoreV1().Secrets(team).List(ctx, metav1.ListOptions{LabelSelector: "oci-connector.dev/connector-name"})
			sa, _ := cluster.Client.CoreV1().ServiceAccounts(team).Get(ctx, "default", metav1.GetOptions{})
			return len(list.Items) == 0 && len(sa.ImagePullSecrets) == 1, fmt.Sprintf("%d secrets, refs %v", len(list.Items), sa.ImagePullSecrets)
		})
		sa, _ := cluster.Client.CoreV1().ServiceAccounts(team).Get(context.Background(), "default", metav1.GetOptions{})
		if sa.ImagePullSecrets[0].Name != "set-by-hand" {
			t.Errorf("imagePullSecrets %v, want only the one set by hand", sa.ImagePullSecrets)
		}
	})

	t.Run("the Connector's deletion removes them all", func(t *testing.T) {
		ns, _ := cluster.Client.CoreV1().Namespaces().Get(context.Background(), team, metav1.GetOptions{})
		ns.Labels["team"] = "a"
		if _, err := cluster.Client.CoreV1().Namespaces().Update(context.Background(), ns, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		pullSecretOf(t, team, "default", 30*time.Second)
		if err := connectors.ConnectorV1alpha1().Connectors(platform).Delete(context.Background(), "harbor", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "every pull secret of the deleted Connector removed", func(ctx context.Context) (bool, string) {
			list, _ := cluster.Client.CoreV1().Secrets("").List(ctx, metav1.ListOptions{LabelSelector: "oci-connector.dev/connector-namespace=" + platform})
			return len(list.Items) == 0, fmt.Sprintf("%d left", len(list.Items))
		})
	})
}
