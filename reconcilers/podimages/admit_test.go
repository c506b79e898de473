package podimages

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"go.uber.org/zap"
	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	ktesting "k8s.io/client-go/testing"

	"github.com/oci-connector/oci-connector/pkg/access"
	"github.com/oci-connector/oci-connector/pkg/apis/config"
	"github.com/oci-connector/oci-connector/pkg/apis/connector"
	ctesting "github.com/oci-connector/oci-connector/pkg/testing"
	rt "github.com/oci-connector/oci-connector/reconcilers/testing"
)

const (
	harborProxy = "c-harbor.platform.example.com"
	hubProxy    = "c-hub.platform.example.com"
	digest      = "sha256:0000000000000000000000000000000000000000000000000000000000000001"
)

// newTestReconciler serves Admit over these Connectors, with the
// Connectors of clusterNamespaces serving the whole cluster;
// SubjectAccessReview allows only the ServiceAccounts named in pullers
// ("ns:name").
func newTestReconciler(t *testing.T, clusterNamespaces, pullers []string, objs ...runtime.Object) *reconciler {
	t.Helper()
	client := fake.NewClientset()
	client.PrependReactor("create", "subjectaccessreviews", func(a ktesting.Action) (bool, runtime.Object, error) {
		sar := a.(ktesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview).DeepCopy()
		for _, p := range pullers {
			ns, name, _ := strings.Cut(p, ":")
			if sar.Spec.User == access.ServiceAccount(ns, name).Username && sar.Spec.ResourceAttributes.Verb == "pull" {
				sar.Status.Allowed = true
			}
		}
		return true, sar, nil
	})
	listers := rt.NewListers(objs)
	r := &reconciler{
		client:          client,
		connectorLister: listers.GetConnectorLister(),
		reviewer:        access.NewReviewer(client.AuthorizationV1().SubjectAccessReviews()),
		config:          config.NewStore(zap.NewNop().Sugar()),
	}
	r.config.OnConfigChanged(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: config.ConfigName},
		Data: map[string]string{config.ClusterConnectorNamespacesKey: strings.Join(clusterNamespaces, ",")}})
	return r
}

type podOption func(*corev1.Pod)

func newPod(opts ...podOption) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "app", Labels: map[string]string{connector.InjectLabel: "true"}},
		Spec: corev1.PodSpec{
			ServiceAccountName: "default",
			Containers:         []corev1.Container{{Name: "app", Image: "harbor.example.com/team/app:v1"}},
		},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func withAnnotation(k, v string) podOption {
	return func(p *corev1.Pod) {
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[k] = v
	}
}

func withLabels(l map[string]string) podOption { return func(p *corev1.Pod) { p.Labels = l } }

func withContainers(images ...string) podOption {
	return func(p *corev1.Pod) {
		p.Spec.Containers = nil
		for i, img := range images {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "c" + string(rune('0'+i)), Image: img})
		}
	}
}

func withInit(image string) podOption {
	return func(p *corev1.Pod) {
		p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: "init", Image: image})
	}
}

func withEphemeral(image string) podOption {
	return func(p *corev1.Pod) {
		p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: image},
		})
	}
}

func withServiceAccount(sa string) podOption {
	return func(p *corev1.Pod) { p.Spec.ServiceAccountName = sa }
}

func request(op admissionv1.Operation, subresource string, pod *corev1.Pod) *admissionv1.AdmissionRequest {
	raw, _ := json.Marshal(pod)
	return &admissionv1.AdmissionRequest{
		Kind:        metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:    metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		SubResource: subresource,
		Operation:   op,
		Namespace:   pod.Namespace,
		Object:      runtime.RawExtension{Raw: raw},
	}
}

// patched decodes a response's patch into path -> value.
func patched(t *testing.T, resp *admissionv1.AdmissionResponse) map[string]any {
	t.Helper()
	out := map[string]any{}
	if resp.Patch == nil {
		return out
	}
	var ops []jsonpatch.Operation
	if err := json.Unmarshal(resp.Patch, &ops); err != nil {
		t.Fatalf("patch %s: %v", resp.Patch, err)
	}
	for _, op := range ops {
		out[op.Path] = op.Value
	}
	return out
}

func TestAdmit(t *testing.T) {
	harbor := ctesting.NewConnector("platform", "harbor", "https://harbor.example.com", "s", ctesting.WithReady(harborProxy))
	hub := ctesting.NewConnector("platform", "hub", "https://registry-1.docker.io", "s", ctesting.WithReady(hubProxy))
	harborCopy := ctesting.NewConnector("other", "harbor2", "https://harbor.example.com:443", "s", ctesting.WithReady("c-harbor2.other.example.com"))
	notReady := ctesting.NewConnector("platform", "broken", "https://broken.example.com", "s",
		ctesting.WithInitConditions, ctesting.WithSecretNotResolved("SecretMissing", `Secret "x" not found`))
	local := ctesting.NewConnector("team-a", "local", "http://localhost:5000", "s", ctesting.WithReady("c-local.team-a.example.com"))
	ownHarbor := ctesting.NewConnector("team-a", "harbor", "https://harbor.example.com", "s", ctesting.WithReady("c-harbor.team-a.example.com"))
	// Another tenant's Connectors for the same registry, Ready or not.
	evil := ctesting.NewConnector("evil", "harbor", "https://harbor.example.com", "s", ctesting.WithReady("c-harbor.evil.example.com"))
	evilBroken := ctesting.NewConnector("evil", "broken", "https://harbor.example.com", "s",
		ctesting.WithInitConditions, ctesting.WithSecretNotResolved("SecretMissing", `Secret "x" not found`))
	// platform and other hold cluster Connectors, unless a case says otherwise.
	clusterNamespaces := []string{"platform", "other"}
	annotationsPath := "/metadata/annotations"

	for _, c := range []struct {
		name       string
		cluster    []string // the cluster-connector-namespaces; clusterNamespaces when nil
		objs       []runtime.Object
		pullers    []string
		req        *admissionv1.AdmissionRequest
		wantPatch  map[string]any // path -> value; nil: no patch
		wantDenied string         // a part of the refusal's message
	}{{
		name:    "a pod without the label is let through untouched",
		objs:    []runtime.Object{harbor},
		pullers: []string{"team-a:default"},
		req:     request(admissionv1.Create, "", newPod(withLabels(nil))),
	}, {
		name:    "the label set to something else than true is not opting in",
		objs:    []runtime.Object{harbor},
		pullers: []string{"team-a:default"},
		req:     request(admissionv1.Create, "", newPod(withLabels(map[string]string{connector.InjectLabel: "false"}))),
	}, {
		name:    "the Connector matched by the image's registry",
		objs:    []runtime.Object{harbor, hub},
		pullers: []string{"team-a:default"},
		req:     request(admissionv1.Create, "", newPod()),
		wantPatch: map[string]any{
			"/spec/containers/0/image": harborProxy + "/team/app:v1",
			annotationsPath:            map[string]any{connector.OriginalImagesAnnotation: `{"app":"harbor.example.com/team/app:v1"}`},
		},
	}, {
		name:    "the annotation names the Connector; init containers too; other registries are left alone",
		objs:    []runtime.Object{harbor, harborCopy},
		pullers: []string{"team-a:default"},
		req: request(admissionv1.Create, "", newPod(
			withAnnotation(connector.ConnectorAnnotation, "platform/harbor"),
			withContainers("harbor.example.com/team/app@"+digest, "quay.io/team/sidecar:v1"),
			withInit("harbor.example.com/team/migrate:v1@"+digest))),
		wantPatch: map[string]any{
			"/spec/initContainers/0/image": harborProxy + "/team/migrate:v1@" + digest,
			"/spec/containers/0/image":     harborProxy + "/team/app@" + digest,
			"/metadata/annotations/oci-connector.dev~1original-images": `{"c0":"harbor.example.com/team/app@` + digest +
				`","init":"harbor.example.com/team/migrate:v1@` + digest + `"}`,
		},
	}, {
		name:    "the OCI Connector documents' label and annotation",
		objs:    []runtime.Object{harbor},
		pullers: []string{"team-a:default"},
		req: request(admissionv1.Create, "", newPod(
			withLabels(map[string]string{connector.CompatInjectLabel: "true"}),
			withAnnotation(connector.CompatConnectorAnnotation, "platform/harbor"))),
		wantPatch: map[string]any{
			"/spec/containers/0/image":                                 harborProxy + "/team/app:v1",
			"/metadata/annotations/oci-connector.dev~1original-images": `{"app":"harbor.example.com/team/app:v1"}`,
		},
	}, {
		name:    "a bare name in the annotation is a Connector in the pod's namespace",
		objs:    []runtime.Object{local},
		pullers: []string{"team-a:default"},
		req: request(admissionv1.Create, "", newPod(withAnnotation(connector.ConnectorAnnotation, "local"),
			withContainers("localhost:5000/app:v1"))),
		wantPatch: map[string]any{
			"/spec/containers/0/image":                                 "c-local.team-a.example.com/app:v1",
			"/metadata/annotations/oci-connector.dev~1original-images": `{"c0":"localhost:5000/app:v1"}`,
		},
	}, {
		name:    "Docker Hub short names are spelled out",
		objs:    []runtime.Object{harbor, hub},
		pullers: []string{"team-a:default"},
		req:     request(admissionv1.Create, "", newPod(withContainers("nginx:1.27", "bitnami/redis"))),
		wantPatch: map[string]any{
			"/spec/containers/0/image": hubProxy + "/library/nginx:1.27",
			"/spec/containers/1/image": hubProxy + "/bitnami/redis",
			annotationsPath:            map[string]any{connector.OriginalImagesAnnotation: `{"c0":"nginx:1.27","c1":"bitnami/redis"}`},
		},
	}, {
		name:    "images already rewritten are left alone",
		objs:    []runtime.Object{harbor},
		pullers: []string{"team-a:default"},
		req: request(admissionv1.Create, "", newPod(withContainers(harborProxy+"/team/app:v1"),
			withAnnotation(connector.OriginalImagesAnnotation, `{"c0":"harbor.example.com/team/app:v1"}`))),
	}, {
		name:    "an earlier record of original images is kept",
		objs:    []runtime.Object{harbor},
		pullers: []string{"team-a:default"},
		req: request(admissionv1.Create, "", newPod(withContainers(harborProxy+"/team/app:v1", "harbor.example.com/team/side:v1"),
			withAnnotation(connector.OriginalImagesAnnotation, `{"c0":"harbor.example.com/team/app:v1"}`))),
		wantPatch: map[string]any{
			"/spec/containers/1/image":                                 harborProxy + "/team/side:v1",
			"/metadata/annotations/oci-connector.dev~1original-images": `{"c0":"harbor.example.com/team/app:v1","c1":"harbor.example.com/team/side:v1"}`,
		},
	}, {
		name:    "no Connector serves the image: nothing to do",
		objs:    []runtime.Object{hub},
		pullers: []string{"team-a:default"},
		req:     request(admissionv1.Create, "", newPod()),
	}, {
		name:    "ephemeral containers added through the subresource",
		objs:    []runtime.Object{harbor},
		pullers: []string{"team-a:default"},
		req: request(admissionv1.Update, "ephemeralcontainers", newPod(withContainers(harborProxy+"/team/app:v1"),
			withEphemeral("harbor.example.com/tools/debug:v1"))),
		wantPatch: map[string]any{"/spec/ephemeralContainers/0/image": harborProxy + "/tools/debug:v1"},
	}, {
		name:    "a plain update is not the webhook's business",
		objs:    []runtime.Object{harbor},
		pullers: []string{"team-a:default"},
		req:     request(admissionv1.Update, "", newPod()),
	}, {
		name:       "several Connectors serve the image",
		objs:       []runtime.Object{harbor, harborCopy},
		pullers:    []string{"team-a:default"},
		req:        request(admissionv1.Create, "", newPod()),
		wantDenied: `image "harbor.example.com/team/app:v1" matches several Connectors (other/harbor2, platform/harbor); choose one with the annotation oci-connector.dev/connector`,
	}, {
		name:       "the named Connector does not exist",
		objs:       []runtime.Object{harbor},
		pullers:    []string{"team-a:default"},
		req:        request(admissionv1.Create, "", newPod(withAnnotation(connector.ConnectorAnnotation, "platform/nope"))),
		wantDenied: "Connector platform/nope, named by annotation oci-connector.dev/connector, does not exist: create it, or correct the annotation",
	}, {
		name:       "an annotation that is not namespace/name",
		objs:       []runtime.Object{harbor},
		pullers:    []string{"team-a:default"},
		req:        request(admissionv1.Create, "", newPod(withAnnotation(connector.CompatConnectorAnnotation, "a/b/c"))),
		wantDenied: `annotation connectors.cpaas.io/connector="a/b/c": want <namespace>/<name>`,
	}, {
		name:       "the named Connector is not Ready",
		objs:       []runtime.Object{notReady},
		pullers:    []string{"team-a:default"},
		req:        request(admissionv1.Create, "", newPod(withAnnotation(connector.ConnectorAnnotation, "platform/broken"))),
		wantDenied: `Connector platform/broken is not Ready (SecretMissing: Secret "x" not found); pods cannot pull through it until it is. See: kubectl describe connector -n platform broken`,
	}, {
		name:    "a Connector that is not Ready is passed over by the automatic match, not refused",
		objs:    []runtime.Object{notReady},
		pullers: []string{"team-a:default"},
		req:     request(admissionv1.Create, "", newPod(withContainers("broken.example.com/x:v1"))),
	}, {
		name:    "another tenant's Connectors for the registry are never matched, Ready or not",
		objs:    []runtime.Object{harbor, evil, evilBroken},
		pullers: []string{"team-a:default"},
		req:     request(admissionv1.Create, "", newPod()),
		wantPatch: map[string]any{
			"/spec/containers/0/image": harborProxy + "/team/app:v1",
			annotationsPath:            map[string]any{connector.OriginalImagesAnnotation: `{"app":"harbor.example.com/team/app:v1"}`},
		},
	}, {
		name:    "a Connector of the pod's own namespace comes before a cluster Connector",
		objs:    []runtime.Object{harbor, ownHarbor},
		pullers: []string{"team-a:default"},
		req:     request(admissionv1.Create, "", newPod()),
		wantPatch: map[string]any{
			"/spec/containers/0/image": "c-harbor.team-a.example.com/team/app:v1",
			annotationsPath:            map[string]any{connector.OriginalImagesAnnotation: `{"app":"harbor.example.com/team/app:v1"}`},
		},
	}, {
		name:    "a namespaced Connector serves only its own namespace",
		cluster: []string{"oci-connector"},
		objs:    []runtime.Object{harbor},
		pullers: []string{"team-a:default"},
		req:     request(admissionv1.Create, "", newPod()),
	}, {
		name:    "an explicit annotation reaches any Connector the ServiceAccount may pull through",
		cluster: []string{"oci-connector"},
		objs:    []runtime.Object{evil},
		pullers: []string{"team-a:default"},
		req:     request(admissionv1.Create, "", newPod(withAnnotation(connector.ConnectorAnnotation, "evil/harbor"))),
		wantPatch: map[string]any{
			"/spec/containers/0/image":                                 "c-harbor.evil.example.com/team/app:v1",
			"/metadata/annotations/oci-connector.dev~1original-images": `{"app":"harbor.example.com/team/app:v1"}`,
		},
	}, {
		name:       "the ServiceAccount may not pull",
		objs:       []runtime.Object{harbor},
		pullers:    []string{"team-a:default"},
		req:        request(admissionv1.Create, "", newPod(withServiceAccount("builder"))),
		wantDenied: "ServiceAccount team-a/builder may not pull through Connector platform/harbor; grant it with: kubectl create rolebinding pull-harbor-team-a-builder -n platform --clusterrole=oci-connector-puller --serviceaccount=team-a:builder",
	}, {
		name:       "ephemeral containers are refused too",
		objs:       []runtime.Object{harbor},
		req:        request(admissionv1.Update, "ephemeralcontainers", newPod(withEphemeral("harbor.example.com/tools/debug:v1"))),
		wantDenied: "ServiceAccount team-a/default may not pull",
	}} {
		t.Run(c.name, func(t *testing.T) {
			cluster := c.cluster
			if cluster == nil {
				cluster = clusterNamespaces
			}
			r := newTestReconciler(t, cluster, c.pullers, c.objs...)
			resp := r.Admit(context.Background(), c.req)
			if c.wantDenied != "" {
				if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, c.wantDenied) {
					t.Fatalf("got allowed=%v %+v; want a refusal saying %q", resp.Allowed, resp.Result, c.wantDenied)
				}
				if resp.Result.Code != 403 {
					t.Errorf("refused with code %d, want 403", resp.Result.Code)
				}
				return
			}
			if !resp.Allowed {
				t.Fatalf("refused: %+v", resp.Result)
			}
			got := patched(t, resp)
			if len(got) != len(c.wantPatch) {
				t.Errorf("patch %s, want %v", resp.Patch, c.wantPatch)
			}
			for path, want := range c.wantPatch {
				g, _ := json.Marshal(got[path])
				w, _ := json.Marshal(want)
				if string(g) != string(w) {
					t.Errorf("%s = %s, want %s", path, g, w)
				}
			}
		})
	}
}
