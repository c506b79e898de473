package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrs "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"
	"knative.dev/pkg/apis"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/clientconfig"
	"github.com/oci-connector/oci-connector/test/controlplane"
	"github.com/oci-connector/oci-connector/test/csiproc"
	"github.com/oci-connector/oci-connector/test/proxyproc"
	"github.com/oci-connector/oci-connector/test/registry"
)

// csiNode is the CSI driver binary on a node of its own.
type csiNode struct {
	name string
	*csiproc.Proc
}

func startCSIDriver(t *testing.T, nodeName string) *csiNode {
	t.Helper()
	ensureNode(t, nodeName)
	return &csiNode{name: nodeName, Proc: csiproc.Start(t, cluster, nodeName)}
}

func ensureNode(t *testing.T, name string) {
	t.Helper()
	_, err := cluster.Client.CoreV1().Nodes().Create(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrs.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// scheduledPod is a pod as the scheduler leaves it: on a node, running as a
// ServiceAccount. Nothing runs it; the driver only reads it.
func scheduledPod(t *testing.T, ns, name, serviceAccount, nodeName string) *corev1.Pod {
	t.Helper()
	cluster.EnsureServiceAccount(t, ns, serviceAccount)
	pod, err := cluster.Client.CoreV1().Pods(ns).Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			NodeName:           nodeName,
			ServiceAccountName: serviceAccount,
			Containers:         []corev1.Container{{Name: "build", Image: "registry.example.com/build:v1"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pod
}

// kubeletVolume is what the kubelet sends for a pod's inline CSI volume:
// the pod's identity (podInfoOnMount), a token of its ServiceAccount for
// the CSIDriver's tokenRequests audience, bound to the pod, and attrs.
type kubeletVolume struct {
	pod   *corev1.Pod
	attrs map[string]string
	// tokenAudience is the audience the kubelet's token is for; the
	// CSIDriver's by default.
	tokenAudience string
	// noToken leaves the token out, as a CSIDriver without tokenRequests would.
	noToken bool
	// claimUID, when set, is the pod UID the volume context claims instead
	// of the pod's own: what a forged call would send.
	claimUID types.UID
}

// publish makes the kubelet's NodePublishVolume call and returns the target path.
func (n *csiNode) publish(t *testing.T, v kubeletVolume) (string, error) {
	t.Helper()
	var tokens string
	if !v.noToken {
		var err error
		if tokens, err = csiproc.KubeletToken(context.Background(), cluster.Client, v.pod, cmp.Or(v.tokenAudience, v1alpha1.CSIAudience)); err != nil {
			t.Fatal(err)
		}
	}
	ctxAttrs := csiproc.VolumeContext(v.pod, cmp.Or(v.claimUID, v.pod.UID), tokens, v.attrs)
	volumeID := "csi-" + rand.String(12)
	target := filepath.Join(n.Dir, "pods", string(v.pod.UID), "volumes", volumeID, "mount")
	if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := n.Node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{
		VolumeId:         volumeID,
		TargetPath:       target,
		VolumeCapability: &csi.VolumeCapability{AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}}, AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER}},
		Readonly:         true,
		VolumeContext:    ctxAttrs,
	})
	if err == nil {
		t.Cleanup(func() {
			_, _ = n.Node.NodeUnpublishVolume(context.Background(), &csi.NodeUnpublishVolumeRequest{VolumeId: volumeID, TargetPath: target})
		})
	}
	return target, err
}

// filesIn lists the files under dir, by path relative to it.
func filesIn(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// readyConnectorAt makes namespace/name Ready with its status.url naming
// proxyHost, as Knative would name the revision a test runs.
func readyConnectorAt(t *testing.T, ns, name string, reg *registry.Registry, proxyHost string) {
	t.Helper()
	cluster.EnsureNamespace(t, ns)
	createSecret(t, ns, name+"-upstream", registry.Username, registry.Password)
	createConnector(t, ns, name, reg.URL, v1alpha1.AuthBasic, name+"-upstream")
	if err := controlplane.MarkServiceReadyAt(context.Background(), serving, waitForService(t, ns, "c-"+name, nil), apis.HTTP(proxyHost)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ns+"/"+name+" Ready at "+proxyHost, func(ctx context.Context) (bool, string) {
		c, err := connectors.ConnectorV1alpha1().Connectors(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return c.Status.IsReady() && c.Status.URL != nil && c.Status.URL.Host == proxyHost, fmt.Sprintf("%+v", c.Status)
	})
}

// tokenInConfig reads the password config.json gives host.
func tokenInConfig(t *testing.T, path, host string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var config struct {
		Auths map[string]struct{ Username, Password string }
	}
	if err := json.Unmarshal(raw, &config); err != nil {
		t.Fatal(err)
	}
	a, ok := config.Auths[host]
	if !ok || a.Password == "" {
		t.Fatalf("%s has no login for %s: %s", path, host, raw)
	}
	return a.Password
}

// csiProxy is a namespaced Connector with its proxy running, a
// ServiceAccount that may pull and push through it, and a CSI driver.
type csiProxy struct {
	reg   *registry.Registry
	proxy *proxyproc.Proc
	ns    string
	csi   *csiNode
}

func setupCSI(t *testing.T, ns string) *csiProxy {
	t.Helper()
	reg := registry.NewHtpasswd(t)
	cluster.EnsureNamespace(t, ns)
	proxy := startProxy(t, reg, ns, "harbor")
	readyConnectorAt(t, ns, "harbor", reg, proxy.Host)
	cluster.BindClusterRole(t, ns, "builder", connectorapi.PullerClusterRole, ns)
	cluster.BindClusterRole(t, ns, "builder", connectorapi.PusherClusterRole, ns)
	return &csiProxy{reg: reg, proxy: proxy, ns: ns, csi: startCSIDriver(t, ns+"-node")}
}

// A pod's CSI volume holds every client configuration, read-only, with a
// token of the pod's own ServiceAccount for the Connector's audience, bound
// to the pod. Real clients use the files as they are: skopeo with auth.json
// and registries.conf, containerd with hosts.toml and config.json's login.
// The token dies with the pod.
func TestCSIVolumeServesClientsThroughTheProxy(t *testing.T) {
	s := setupCSI(t, "csi-clients")
	pod := scheduledPod(t, s.ns, "build-1", "builder", s.csi.name)
	target, err := s.csi.publish(t, kubeletVolume{pod: pod, attrs: map[string]string{
		"connector":      "harbor",
		"configurations": "docker-config,buildkitd,containers-auth,registries-conf,containerd-hosts",
	}})
	if err != nil {
		t.Fatalf("NodePublishVolume: %v", err)
	}
	host := s.proxy.Host
	local := "c-harbor." + s.ns + ".svc.cluster.local"
	want := []string{"auth.json", "buildkitd.toml", host + "/hosts.toml", "config.json", local + "/hosts.toml", "registries.conf"}
	slices.Sort(want)
	if got := filesIn(t, target); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	if err := os.WriteFile(filepath.Join(target, "config.json"), []byte("{}"), 0o644); !errors.Is(err, syscall.EROFS) {
		t.Errorf("writing into the volume: %v, want EROFS", err)
	}
	token := tokenInConfig(t, filepath.Join(target, "config.json"), host)
	if tokenInConfig(t, filepath.Join(target, "auth.json"), local) != token {
		t.Error("auth.json and config.json hold different tokens")
	}

	t.Run("the token is the pod's, for the Connector, bound to the pod", func(t *testing.T) {
		review := tokenReview(t, token, v1alpha1.ConnectorAudience(s.ns, "harbor"))
		if !review.Status.Authenticated || review.Status.User.Username != "system:serviceaccount:"+s.ns+":builder" {
			t.Fatalf("TokenReview: %+v", review.Status)
		}
		extra := review.Status.User.Extra
		if !slices.Equal(extra["authentication.kubernetes.io/pod-name"], []string{pod.Name}) ||
			!slices.Equal(extra["authentication.kubernetes.io/pod-uid"], []string{string(pod.UID)}) {
			t.Errorf("the token is not bound to the pod: %v", extra)
		}
		if other := tokenReview(t, token, v1alpha1.NodeAudience); other.Status.Authenticated {
			t.Error("the token is also good for the node audience")
		}
	})

	t.Run("skopeo reads through the proxy with auth.json and registries.conf", func(t *testing.T) {
		out := runTool(t, nil, "skopeo", "inspect", "--authfile", filepath.Join(target, "auth.json"),
			"--registries-conf", filepath.Join(target, "registries.conf"),
			"docker://"+host+"/"+registry.SeedRepository+":"+registry.SeedTag)
		if !strings.Contains(out, `"Digest"`) {
			t.Fatalf("skopeo inspect said: %s", out)
		}
	})

	t.Run("containerd pulls through the proxy with hosts.toml", func(t *testing.T) {
		ctr, err := exec.LookPath("ctr")
		if err != nil {
			t.Fatal("ctr is not installed; .ci/run installs containerd")
		}
		socket := startContainerd(t)
		// No --plain-http: hosts.toml says the proxy serves plain HTTP.
		out := runTool(t, nil, ctr, "--address", socket, "images", "pull", "--hosts-dir", target, "--snapshotter", "native",
			"--user", clientconfig.Username+":"+token, host+"/"+registry.SeedRepository+":"+registry.SeedTag)
		if !strings.Contains(out, "done") {
			t.Fatalf("ctr pull said: %s", out)
		}
	})

	t.Run("unpublishing removes the files and the mounts", func(t *testing.T) {
		volumeID := filepath.Base(filepath.Dir(target))
		if _, err := s.csi.Node.NodeUnpublishVolume(context.Background(), &csi.NodeUnpublishVolumeRequest{VolumeId: volumeID, TargetPath: target}); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the target path is still there: %v", err)
		}
		if _, err := s.csi.Node.NodeUnpublishVolume(context.Background(), &csi.NodeUnpublishVolumeRequest{VolumeId: volumeID, TargetPath: target}); err != nil {
			t.Errorf("unpublishing again: %v", err)
		}
	})

	t.Run("the token dies with the pod", func(t *testing.T) {
		if err := cluster.Client.CoreV1().Pods(s.ns).Delete(context.Background(), pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the pod's token refused", func(ctx context.Context) (bool, string) {
			review := tokenReview(t, token, v1alpha1.ConnectorAudience(s.ns, "harbor"))
			return !review.Status.Authenticated, review.Status.Error
		})
	})
}

func tokenReview(t *testing.T, token, audience string) *authenticationv1.TokenReview {
	t.Helper()
	review, err := cluster.Client.AuthenticationV1().TokenReviews().Create(context.Background(), &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{audience}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return review
}

// Every refusal is a clear error the kubelet shows as a pod event, and
// leaves no file behind.
func TestCSIVolumeRefusals(t *testing.T) {
	s := setupCSI(t, "csi-refusals")
	ensureNode(t, "csi-elsewhere")
	// A namespaced Connector of another tenant.
	other := "csi-other-tenant"
	readyConnector(t, other, "theirs", s.reg)
	cluster.BindClusterRole(t, s.ns, "builder", connectorapi.PullerClusterRole, other)

	// A Connector whose Secret is missing never goes Ready.
	createConnector(t, s.ns, "broken", "https://broken.example.com", v1alpha1.AuthBasic, "missing")
	waitForCondition(t, s.ns, "broken", v1alpha1.ConditionSecretResolved, corev1.ConditionFalse, "")

	here := scheduledPod(t, s.ns, "here", "builder", s.csi.name)
	elsewhere := scheduledPod(t, s.ns, "elsewhere", "builder", "csi-elsewhere")
	noRBAC := scheduledPod(t, s.ns, "no-rbac", "nobody", s.csi.name)
	good := map[string]string{"connector": "harbor", "configurations": "docker-config"}

	cases := []struct {
		name string
		v    kubeletVolume
		code codes.Code
		want string
	}{
		{"a pod of another node", kubeletVolume{pod: elsewhere, attrs: good}, codes.PermissionDenied, `is on node "csi-elsewhere", not on this node`},
		{"a UID that does not match", kubeletVolume{pod: here, attrs: good, claimUID: "00000000-0000-0000-0000-000000000000"}, codes.PermissionDenied, "is not bound to pod"},
		{"a ServiceAccount without RBAC", kubeletVolume{pod: noRBAC, attrs: good}, codes.PermissionDenied, "ServiceAccount csi-refusals/nobody may not pull through connector csi-refusals/harbor"},
		{"no token from the kubelet", kubeletVolume{pod: here, attrs: good, noToken: true}, codes.Unauthenticated, "the kubelet sent no token for the audience oci-connector.dev/csi"},
		{"a token for another audience", kubeletVolume{pod: here, attrs: good, tokenAudience: v1alpha1.CSIAudience + "-x"}, codes.Unauthenticated, "the kubelet sent no token for the audience"},
		{"a missing Connector", kubeletVolume{pod: here, attrs: map[string]string{"connector": "absent", "configurations": "docker-config"}}, codes.NotFound, "connector csi-refusals/absent not found"},
		{"a Connector that is not Ready", kubeletVolume{pod: here, attrs: map[string]string{"connector": "broken", "configurations": "docker-config"}}, codes.FailedPrecondition, "connector csi-refusals/broken is not Ready"},
		{"another tenant's Connector", kubeletVolume{pod: here, attrs: map[string]string{"connector": other + "/theirs", "configurations": "docker-config"}}, codes.PermissionDenied, "serves only its own namespace"},
		{"an unknown configuration", kubeletVolume{pod: here, attrs: map[string]string{"connector": "harbor", "configurations": "kaniko"}}, codes.InvalidArgument, `unknown configuration "kaniko"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target, err := s.csi.publish(t, tc.v)
			if status.Code(err) != tc.code || !strings.Contains(status.Convert(err).Message(), tc.want) {
				t.Errorf("NodePublishVolume: %v, want %v containing %q", err, tc.code, tc.want)
			}
			if files := filesIn(t, target); len(files) != 0 {
				t.Errorf("a refused volume holds %v", files)
			}
		})
	}

	// A token minted for the audience but not read through TokenReview's
	// audience check: one for the Connector's audience under the CSI key.
	t.Run("a token for the Connector's audience under the CSI audience's key", func(t *testing.T) {
		tok := cluster.Token(t, s.ns, "builder", v1alpha1.ConnectorAudience(s.ns, "harbor"), 10*time.Minute)
		tokens, _ := json.Marshal(map[string]any{v1alpha1.CSIAudience: map[string]any{"token": tok}})
		_, err := s.csi.publish(t, kubeletVolume{pod: here, noToken: true, attrs: map[string]string{
			"connector": "harbor", "configurations": "docker-config", "csi.storage.k8s.io/serviceAccount.tokens": string(tokens),
		}})
		if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "is not valid for oci-connector.dev/csi") {
			t.Errorf("NodePublishVolume: %v", err)
		}
	})
}
