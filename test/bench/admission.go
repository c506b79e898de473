package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/events"
	connectorreconciler "github.com/oci-connector/oci-connector/reconcilers/connector"
	"github.com/oci-connector/oci-connector/reconcilers/podimages"
	"github.com/oci-connector/oci-connector/test/controlplane"
	"github.com/oci-connector/oci-connector/test/registry"
)

// admissionLatency times the pod webhook as the API server calls it: an
// AdmissionReview POSTed over TLS on loopback for an opted-in pod whose image
// is rewritten through a Ready Connector. The informers are synced before
// the first request; the first tenth is discarded as warm-up. Access answers
// live 10s in the webhook's cache, so a run of n requests includes the
// SubjectAccessReviews that expire during it. Then it times pod creation
// through the API server with and without the label, side by side.
func (b *bench) admissionLatency(n int) {
	wh := b.controlPlane()
	ready := b.readyConnector("admission", nil)
	b.cluster.BindClusterRole(b.r, namespace, "default", connectorapi.PullerClusterRole, namespace)

	image := strings.TrimPrefix(b.reg.URL, "http://") + "/" + registry.SeedRepository + ":" + registry.SeedTag
	pod := func(name string, labelled bool) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
			Spec:       corev1.PodSpec{ServiceAccountName: "default", Containers: []corev1.Container{{Name: "app", Image: image}}},
		}
		if labelled {
			p.Labels = map[string]string{connectorapi.InjectLabel: "true"}
			p.Annotations = map[string]string{connectorapi.ConnectorAnnotation: namespace + "/" + ready.Name}
		}
		return p
	}

	client := webhookClient(b, wh.CABundle)
	review := admissionReview(b, pod("bench", true))
	want := ready.Status.URL.Host + "/" + registry.SeedRepository
	// sample times n AdmissionReviews of review; first checks the first answer.
	sample := func(review []byte, first func(*admissionv1.AdmissionReview)) []float64 {
		var out []float64
		for i := 0; i < n; i++ {
			start := time.Now()
			resp, err := client.Post(wh.URL+podimages.Path, "application/json", bytes.NewReader(review))
			check(b.r, err)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			check(b.r, err)
			if i >= n/10 {
				out = append(out, float64(time.Since(start).Microseconds())/1000)
			}
			if i == 0 {
				var answer admissionv1.AdmissionReview
				check(b.r, json.Unmarshal(body, &answer))
				first(&answer)
			}
		}
		slices.Sort(out)
		return out
	}
	rewritten := sample(review, func(a *admissionv1.AdmissionReview) {
		if a.Response == nil || !bytes.Contains(a.Response.Patch, []byte(want)) {
			b.r.Fatalf("the webhook did not rewrite the image to %s: %+v", want, a.Response)
		}
	})
	// The reference: the same webhook, server and TLS, for a pod it lets
	// through untouched (no Connector, no access review).
	untouched := sample(admissionReview(b, pod("bench-plain", false)), func(a *admissionv1.AdmissionReview) {
		if a.Response == nil || !a.Response.Allowed || len(a.Response.Patch) != 0 {
			b.r.Fatalf("the webhook changed an unlabelled pod: %+v", a.Response)
		}
	})
	log.Printf("pod webhook: p50 %.2f ms, p99 %.2f ms rewriting; p50 %.2f ms, p99 %.2f ms letting a pod through",
		percentile(rewritten, 50), percentile(rewritten, 99), percentile(untouched, 50), percentile(untouched, 99))
	report("admission_latency_p50_vs_passthrough", percentile(rewritten, 50)/percentile(untouched, 50))
	report("admission_latency_p99_vs_passthrough", percentile(rewritten, 99)/percentile(untouched, 99))

	// The same through the API server: labelled pods take the webhook's
	// round trip, unlabelled ones do not.
	create := func(labelled bool, count int) []float64 {
		var out []float64
		for i := 0; i < count; i++ {
			p := pod(fmt.Sprintf("p-%v-%d", labelled, i), labelled)
			start := time.Now()
			_, err := b.cluster.Client.CoreV1().Pods(namespace).Create(context.Background(), p, metav1.CreateOptions{})
			check(b.r, err)
			if i >= count/10 {
				out = append(out, float64(time.Since(start).Microseconds())/1000)
			}
		}
		slices.Sort(out)
		return out
	}
	plain := create(false, n/4)
	labelled := create(true, n/4)
	log.Printf("pod create p50: %.2f ms labelled, %.2f ms plain", percentile(labelled, 50), percentile(plain, 50))
	report("pod_create_labelled_vs_plain_p50", percentile(labelled, 50)/percentile(plain, 50))
}

// controlPlane starts the controller and the webhooks, once.
func (b *bench) controlPlane() *controlplane.Webhook {
	if b.webhook == nil {
		log.Print("starting the controller and the admission webhooks")
		settings, err := connectorreconciler.SettingsFromEnv(connectorapi.SystemNamespace)
		check(b.r, err)
		// The controller's refresh events reach tokenrefresh through a
		// stand-in for Knative's activator, which starts it from zero.
		activator := httptest.NewServer(&b.tokenrefresh)
		b.r.Cleanup(activator.Close)
		settings.TokenRefreshURL = activator.URL
		// tokenrefresh serves the controller's ServiceAccount alone.
		settings.TokenRefreshTokenFile = b.cluster.TokenFile(b.r, connectorapi.SystemNamespace, connectorapi.ControllerServiceAccount, events.TokenRefreshAudience)
		controlplane.Start(b.r, b.cluster.Config, controlplane.Options{Settings: settings})
		b.webhook = controlplane.StartWebhook(b.r, b.cluster.Config, controlplane.Options{})
		b.webhook.Install(b.r, b.cluster.Config)
	}
	return b.webhook
}

// readyConnector makes a Ready Connector in front of the bench's upstream.
func (b *bench) readyConnector(name string, pullSecrets *v1alpha1.PullSecretsSpec) *v1alpha1.Connector {
	b.controlPlane()
	return controlplane.ReadyConnector(b.r, b.cluster.Config, &v1alpha1.Connector{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: v1alpha1.ConnectorSpec{
			ConnectorClassName: v1alpha1.ConnectorClassOCI,
			Address:            b.reg.URL,
			Auth: v1alpha1.ConnectorAuth{
				Name:      v1alpha1.AuthBasic,
				SecretRef: &v1alpha1.SecretReference{Name: name + "-upstream"},
				Params:    []v1alpha1.Param{{Name: v1alpha1.ParamRepository, Value: registry.SeedRepository}},
			},
			PullSecrets: pullSecrets,
		},
	}, registry.SecretData(), func(string) {})
}

func webhookClient(b *bench, caPEM []byte) *http.Client {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		b.r.Fatalf("the webhook's CA bundle holds no certificate")
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
}

func admissionReview(b *bench, pod *corev1.Pod) []byte {
	raw, err := json.Marshal(pod)
	check(b.r, err)
	out, err := json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("bench"),
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: pod.Namespace,
			Name:      pod.Name,
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: raw},
		},
	})
	check(b.r, err)
	return out
}
