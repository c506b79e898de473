package scenarios

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/test/controlplane"
	"github.com/oci-connector/oci-connector/test/proxyproc"
	"github.com/oci-connector/oci-connector/test/realnode"
	"github.com/oci-connector/oci-connector/test/registry"
)

// The upstream password is rotated while pods start, as the README says to
// rotate it: the new password into the Connector's Secret first, then into
// the registry. Every pod pulls its image through the proxy (pulled each
// time) and runs; none fails to pull.
func TestRotationWhilePodsStart(t *testing.T) {
	ns := "rotation"
	// A registry of its own: the others' proxies keep the shared one's password.
	own := registry.NewHtpasswd(t)
	realnode.PushGoImage(t, "./test/realnode/pause", own.Host+"/"+appRepository, registry.RobotAuth())
	cluster.EnsureNamespace(t, ns)
	cluster.EnsureServiceAccount(t, ns, "app")
	cluster.BindClusterRole(t, ns, "app", connectorapi.PullerClusterRole, ns)
	proxy := proxyproc.Start(t, proxyproc.Options{
		Upstream: own.URL, Namespace: ns, Name: "harbor",
		Kubeconfig: cluster.KubeconfigAs(t, connectorapi.SystemNamespace, "oci-connector-proxy"),
		Secret:     registry.SecretData(),
	})
	controlplane.ReadyConnectorAt(t, cluster.Config, &v1alpha1.Connector{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "harbor"},
		Spec: v1alpha1.ConnectorSpec{
			ConnectorClassName: v1alpha1.ConnectorClassOCI, Address: own.URL,
			Auth:        v1alpha1.ConnectorAuth{Name: v1alpha1.AuthBasic, SecretRef: &v1alpha1.SecretReference{Name: "harbor-upstream"}},
			PullSecrets: &v1alpha1.PullSecretsSpec{ServiceAccounts: []string{"app"}},
		},
	}, registry.SecretData(), apis.HTTP(proxy.Host), func(string) {})
	node.AddPlainHTTPHost(t, proxy.Host)
	pullSecretOn(t, ns, "app", nil)

	const rotated = "rotated-password"
	steps := map[int]func(){
		// The Secret first: the kubelet updates the proxy's volume after
		// the Secret changes; both are written here.
		2: func() {
			s, err := cluster.Client.CoreV1().Secrets(ns).Get(context.Background(), "harbor-upstream", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			s.StringData = map[string]string{"password": rotated}
			if _, err := cluster.Client.CoreV1().Secrets(ns).Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			proxyproc.WriteSecretVolume(t, proxy.CredentialsDir, map[string]string{"username": registry.Username, "password": rotated})
			// The next pods start once the proxy holds the new password,
			// which the registry does not take yet: the window a rotation opens.
			waitFor(t, "the proxy to read the new password", func(context.Context) (bool, string) {
				raw, err := os.ReadFile(proxy.LogPath)
				return err == nil && strings.Contains(string(raw), "Upstream credentials changed"), ""
			})
		},
		// Then the registry.
		4: func() { own.RotatePassword(t, rotated) },
	}
	for i := range 7 {
		if step, ok := steps[i]; ok {
			step()
		}
		name := fmt.Sprintf("pod-%d", i)
		start := time.Now()
		runPod(t, ns, name, "app", proxy.Host+"/"+appRepository)
		waitRunning(t, ns, name)
		t.Logf("%s ran after %v", name, time.Since(start).Round(time.Millisecond))
	}
	// Pods 2 and 3 started while only the old password worked upstream:
	// the proxy bridged that with the password before the Secret's.
	raw, err := os.ReadFile(proxy.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "a rotation is under way") {
		t.Error("the proxy never fell back to the previous password: the test did not rotate as it says")
	}
	if strings.Contains(string(raw), rotated) || strings.Contains(string(raw), registry.Password) {
		t.Error("the proxy's log holds an upstream password")
	}
}
