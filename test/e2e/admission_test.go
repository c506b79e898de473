package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/test/registry"
)

const admissionDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// readyConnector makes namespace/name Ready in front of reg and returns the
// proxy host its status.url names.
func readyConnector(t *testing.T, ns, name string, reg *registry.Registry) string {
	t.Helper()
	cluster.EnsureNamespace(t, ns)
	createSecret(t, ns, name+"-upstream", registry.Username, registry.Password)
	createConnector(t, ns, name, reg.URL, v1alpha1.AuthBasic, name+"-upstream")
	actAsKnative(t, waitForService(t, ns, "c-"+name, nil))
	c := waitForCondition(t, ns, name, v1alpha1.ConditionReady, corev1.ConditionTrue, "")
	return c.Status.URL.Host
}

// registryHost is the host:port images on reg are named with.
func registryHost(reg *registry.Registry) string {
	return strings.TrimPrefix(strings.TrimPrefix(reg.URL, "http://"), "https://")
}

type podShape struct {
	labels, annotations map[string]string
	serviceAccount      string
	init, containers    []string
}

func createPod(ns, name string, shape podShape) (*corev1.Pod, error) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: shape.labels, Annotations: shape.annotations},
		Spec:       corev1.PodSpec{ServiceAccountName: shape.serviceAccount},
	}
	for i, img := range shape.init {
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{Name: "init" + string(rune('0'+i)), Image: img})
	}
	for i, img := range shape.containers {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "c" + string(rune('0'+i)), Image: img})
	}
	return cluster.Client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{})
}

func images(containers []corev1.Container) []string {
	out := make([]string, len(containers))
	for i, c := range containers {
		out[i] = c.Image
	}
	return out
}

// The real API server calls the webhook over TLS for labelled pods, and
// stores what it patched.
func TestPodImagesAreRewritten(t *testing.T) {
	reg := registry.NewHtpasswd(t)
	upstream := registryHost(reg)
	// adm-platform's Connectors serve the cluster, so a pod elsewhere is
	// matched with them by registry.
	setClusterConnectorNamespaces(t, "adm-platform")
	proxy := readyConnector(t, "adm-platform", "harbor", reg)
	app := "adm-app"
	cluster.EnsureServiceAccount(t, app, "default")
	cluster.BindClusterRole(t, app, "default", "oci-connector-puller", "adm-platform")
	waitFor(t, "adm-platform's Connectors serving the cluster", func(ctx context.Context) (bool, string) {
		got, err := imageOfDryRunPod(ctx, app, upstream+"/team/app")
		return err == nil && got == proxy+"/team/app", got
	})
	inject := map[string]string{connector.InjectLabel: "true"}
	named := map[string]string{connector.ConnectorAnnotation: "adm-platform/harbor"}

	for _, c := range []struct {
		name           string
		shape          podShape
		wantInit       []string
		wantContainers []string
		wantOriginals  map[string]string // nil: no annotation
	}{{
		name: "named-connector",
		shape: podShape{labels: inject, annotations: named,
			init:       []string{upstream + "/team/migrate@" + admissionDigest},
			containers: []string{upstream + "/team/app:v1", "quay.io/team/sidecar:v2", upstream + "/team/tool:v3@" + admissionDigest}},
		wantInit:       []string{proxy + "/team/migrate@" + admissionDigest},
		wantContainers: []string{proxy + "/team/app:v1", "quay.io/team/sidecar:v2", proxy + "/team/tool:v3@" + admissionDigest},
		wantOriginals: map[string]string{
			"init0": upstream + "/team/migrate@" + admissionDigest,
			"c0":    upstream + "/team/app:v1",
			"c2":    upstream + "/team/tool:v3@" + admissionDigest,
		},
	}, {
		name:           "matched-by-registry",
		shape:          podShape{labels: inject, containers: []string{upstream + "/team/app"}},
		wantContainers: []string{proxy + "/team/app"},
		wantOriginals:  map[string]string{"c0": upstream + "/team/app"},
	}, {
		name: "oci-connector-documents-spelling",
		shape: podShape{
			labels:      map[string]string{connector.CompatInjectLabel: "true"},
			annotations: map[string]string{connector.CompatConnectorAnnotation: "adm-platform/harbor"},
			containers:  []string{upstream + "/team/app:v1"}},
		wantContainers: []string{proxy + "/team/app:v1"},
		wantOriginals:  map[string]string{"c0": upstream + "/team/app:v1"},
	}, {
		name:           "already-rewritten",
		shape:          podShape{labels: inject, annotations: named, containers: []string{proxy + "/team/app:v1"}},
		wantContainers: []string{proxy + "/team/app:v1"},
	}, {
		name:           "not-labelled",
		shape:          podShape{annotations: named, containers: []string{upstream + "/team/app:v1"}},
		wantContainers: []string{upstream + "/team/app:v1"},
	}} {
		t.Run(c.name, func(t *testing.T) {
			pod, err := createPod(app, c.name, c.shape)
			if err != nil {
				t.Fatalf("creating the pod: %v", err)
			}
			if got := images(pod.Spec.InitContainers); strings.Join(got, " ") != strings.Join(c.wantInit, " ") {
				t.Errorf("init containers = %v, want %v", got, c.wantInit)
			}
			if got := images(pod.Spec.Containers); strings.Join(got, " ") != strings.Join(c.wantContainers, " ") {
				t.Errorf("containers = %v, want %v", got, c.wantContainers)
			}
			record, ok := pod.Annotations[connector.OriginalImagesAnnotation]
			if c.wantOriginals == nil {
				if ok {
					t.Errorf("original images recorded for a pod left alone: %s", record)
				}
				return
			}
			var originals map[string]string
			if err := json.Unmarshal([]byte(record), &originals); err != nil {
				t.Fatalf("annotation %s=%q: %v", connector.OriginalImagesAnnotation, record, err)
			}
			if len(originals) != len(c.wantOriginals) {
				t.Errorf("original images = %v, want %v", originals, c.wantOriginals)
			}
			for k, v := range c.wantOriginals {
				if originals[k] != v {
					t.Errorf("original image of %s = %q, want %q", k, originals[k], v)
				}
			}
		})
	}

	// Ephemeral containers arrive through their own subresource.
	t.Run("ephemeral-container", func(t *testing.T) {
		pod, err := createPod(app, "debug-me", podShape{labels: inject, containers: []string{upstream + "/team/app:v1"}})
		if err != nil {
			t.Fatal(err)
		}
		pod.Spec.EphemeralContainers = append(pod.Spec.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: upstream + "/tools/debug:v1"},
		})
		got, err := cluster.Client.CoreV1().Pods(app).UpdateEphemeralContainers(context.Background(), pod.Name, pod, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("adding an ephemeral container: %v", err)
		}
		if img := got.Spec.EphemeralContainers[0].Image; img != proxy+"/tools/debug:v1" {
			t.Errorf("ephemeral container image = %s, want %s", img, proxy+"/tools/debug:v1")
		}
	})
}

// A refused pod's error says what to do.
func TestPodWebhookRefusals(t *testing.T) {
	reg := registry.NewHtpasswd(t)
	upstream := registryHost(reg)
	readyConnector(t, "adm-refuse-platform", "harbor", reg)
	// A Connector whose Secret is missing never goes Ready.
	cluster.EnsureNamespace(t, "adm-refuse-platform")
	createConnector(t, "adm-refuse-platform", "broken", "https://broken.example.com", v1alpha1.AuthBasic, "missing")
	waitForCondition(t, "adm-refuse-platform", "broken", v1alpha1.ConditionSecretResolved, corev1.ConditionFalse, "")
	app := "adm-refuse-app"
	cluster.EnsureServiceAccount(t, app, "default")
	cluster.EnsureServiceAccount(t, app, "builder")
	cluster.BindClusterRole(t, app, "default", "oci-connector-puller", "adm-refuse-platform")
	inject := map[string]string{connector.InjectLabel: "true"}

	for _, c := range []struct {
		name  string
		shape podShape
		want  []string
	}{{
		name: "no-rbac",
		shape: podShape{labels: inject, serviceAccount: "builder",
			annotations: map[string]string{connector.ConnectorAnnotation: "adm-refuse-platform/harbor"},
			containers:  []string{upstream + "/team/app:v1"}},
		want: []string{
			`admission webhook "pods.webhook.oci-connector.dev" denied the request`,
			"ServiceAccount adm-refuse-app/builder may not pull through Connector adm-refuse-platform/harbor",
			"kubectl create rolebinding pull-harbor-adm-refuse-app-builder -n adm-refuse-platform --clusterrole=oci-connector-puller --serviceaccount=adm-refuse-app:builder",
		},
	}, {
		name: "missing-connector",
		shape: podShape{labels: inject,
			annotations: map[string]string{connector.ConnectorAnnotation: "adm-refuse-platform/nope"},
			containers:  []string{upstream + "/team/app:v1"}},
		want: []string{"Connector adm-refuse-platform/nope, named by annotation oci-connector.dev/connector, does not exist: create it, or correct the annotation"},
	}, {
		name: "not-ready",
		shape: podShape{labels: inject,
			annotations: map[string]string{connector.ConnectorAnnotation: "adm-refuse-platform/broken"},
			containers:  []string{"broken.example.com/team/app:v1"}},
		want: []string{"Connector adm-refuse-platform/broken is not Ready (", "See: kubectl describe connector -n adm-refuse-platform broken"},
	}} {
		t.Run(c.name, func(t *testing.T) {
			_, err := createPod(app, c.name, c.shape)
			if err == nil {
				t.Fatal("the pod was admitted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the refusal %q does not say %q", err, w)
				}
			}
			if _, err := cluster.Client.CoreV1().Pods(app).Get(context.Background(), c.name, metav1.GetOptions{}); err == nil {
				t.Error("a refused pod was stored")
			}
		})
	}
}

// The defaulting webhook fills what the CRD's schema leaves out; the
// validation webhook refuses what only Validate can see, with field paths.
func TestConnectorWebhooks(t *testing.T) {
	ns := "adm-connectors"
	cluster.EnsureNamespace(t, ns)
	createConnector(t, ns, "defaulted", "https://harbor.example.com", v1alpha1.AuthBasic, "s")
	c, err := connectors.ConnectorV1alpha1().Connectors(ns).Get(context.Background(), "defaulted", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Spec.Proxy.Audience != "" || c.Spec.Proxy.MinScale == nil || c.Spec.Proxy.MaxScale == nil {
		t.Errorf("stored spec.proxy = %+v, want the defaults filled in", c.Spec.Proxy)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte(`apiVersion: oci-connector.dev/v1alpha1
kind: Connector
metadata: {name: bad, namespace: adm-connectors}
spec:
  connectorClassName: oci
  address: https://harbor.example.com
  auth:
    name: basicAuth
    secretRef: {name: s}
  repositories:
  - {path: "Team/*", access: [pull]}
  proxy: {minScale: 5, maxScale: 2}
  pullSecrets: {tokenTTL: 1m}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := cluster.Kubectl(t, "apply", "-f", bad)
	if err == nil {
		t.Fatalf("kubectl applied a bad Connector:\n%s", out)
	}
	for _, want := range []string{
		`admission webhook "validation.webhook.oci-connector.dev" denied the request`,
		"spec.repositories[0].path",
		"spec.proxy.maxScale, spec.proxy.minScale",
		"spec.pullSecrets.tokenTTL",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl's refusal does not name %q:\n%s", want, out)
		}
	}
	if _, err := connectors.ConnectorV1alpha1().Connectors(ns).Get(context.Background(), "bad", metav1.GetOptions{}); err == nil {
		t.Error("the bad Connector was stored")
	}
}
