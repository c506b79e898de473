package scenarios

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	servingclientset "knative.dev/serving/pkg/client/clientset/versioned"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	privatecluster "github.com/oci-connector/oci-connector/test/cluster"
	"github.com/oci-connector/oci-connector/test/realnode"
	"github.com/oci-connector/oci-connector/test/registry"
)

// The upstream password is rotated while pods start, as the README says to
// rotate it: the new password into the Connector's Secret first, then into
// the registry. The Secret's change rolls a new Knative revision (the
// Secret's digest is on the revision template), which is not ready while
// the registry refuses the new password; the running revision, whose
// mounted Secret changed in place, serves with the password before it.
// Once the registry takes the new one, the new revision goes Ready and
// takes the traffic. Every pod pulls its image through the proxy (pulled
// each time) and runs; none fails to pull.
func TestRotationRollsARevision(t *testing.T) {
	ns := "rotation"
	// A registry of its own: the others' proxies keep the shared one's password.
	own := registry.NewHtpasswd(t, registry.WithListenIP(privatecluster.NodeIP))
	realnode.PushGoImage(t, "./test/realnode/pause", own.Host+"/"+appRepository, registry.RobotAuth())
	cluster.EnsureNamespace(t, ns)
	cluster.EnsureServiceAccount(t, ns, "app")
	cluster.BindClusterRole(t, ns, "app", connectorapi.PullerClusterRole, ns)
	proxy := startConnector(t, ns, "harbor", func(s *v1alpha1.ConnectorSpec) {
		s.Address = own.URL
		s.PullSecrets = &v1alpha1.PullSecretsSpec{ServiceAccounts: []string{"app"}}
	})
	pullSecretOn(t, ns, "app", nil)
	serving := servingclientset.NewForConfigOrDie(cluster.Config)
	revisions := func(ctx context.Context) (created, ready string) {
		ksvc, err := serving.ServingV1().Services(ns).Get(ctx, proxy.service, metav1.GetOptions{})
		if err != nil {
			return "", ""
		}
		return ksvc.Status.LatestCreatedRevisionName, ksvc.Status.LatestReadyRevisionName
	}
	first, _ := revisions(context.Background())

	const rotated = "rotated-password"
	steps := map[int]func(){
		// The Secret first: a new revision is made, and the running proxy
		// reads the new password (the kubelet updates its volume).
		2: func() {
			s, err := cluster.Client.CoreV1().Secrets(ns).Get(context.Background(), "harbor-upstream", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			s.StringData = map[string]string{"password": rotated}
			if _, err := cluster.Client.CoreV1().Secrets(ns).Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "a new revision of the proxy", func(ctx context.Context) (bool, string) {
				created, ready := revisions(ctx)
				return created != first, fmt.Sprintf("created %s, ready %s", created, ready)
			})
			waitFor(t, "the running proxy to read the new password", func(context.Context) (bool, string) {
				return strings.Contains(pc.ContainerLog(ns, first+"-", "proxy"), "Upstream credentials changed"), ""
			})
			if _, ready := revisions(context.Background()); ready != first {
				t.Fatalf("revision %s went Ready while the registry refuses its password", ready)
			}
		},
		// Then the registry; the new revision serves from then on.
		4: func() {
			own.RotatePassword(t, rotated)
			waitFor(t, "the new revision Ready", func(ctx context.Context) (bool, string) {
				created, ready := revisions(ctx)
				return ready == created && ready != first, fmt.Sprintf("created %s, ready %s", created, ready)
			})
		},
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
	// the first revision bridged that with the password before the Secret's.
	log := proxy.Log()
	if !strings.Contains(log, "a rotation is under way") {
		t.Error("the proxy never fell back to the previous password: the test did not rotate as it says")
	}
	if strings.Contains(log, rotated) || strings.Contains(log, registry.Password) {
		t.Error("the proxy's log holds an upstream password")
	}
}
