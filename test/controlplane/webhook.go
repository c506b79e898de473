package controlplane

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	kubeclient "knative.dev/pkg/client/injection/kube/client"
	cminformer "knative.dev/pkg/configmap/informer"
	"knative.dev/pkg/injection"
	secretinformer "knative.dev/pkg/injection/clients/namespacedkube/informers/core/v1/secret"
	"knative.dev/pkg/webhook"
	"knative.dev/pkg/webhook/certificates"
	certresources "knative.dev/pkg/webhook/certificates/resources"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/reconcilers/connectoradmission"
	"github.com/oci-connector/oci-connector/reconcilers/podimages"
	"github.com/oci-connector/oci-connector/test/harness"
)

// Webhook is the controller binary's admission webhooks served by the test
// process: knative.dev/pkg's webhook handler with the same admission
// controllers, over TLS on 127.0.0.1.
type Webhook struct {
	// URL is the server's base, https://127.0.0.1:<port>.
	URL string
	// CABundle is the PEM of the CA that signed the serving certificate.
	CABundle []byte
}

// StartWebhook runs the webhooks and the reconcilers that keep their
// certificate and the pod webhook's configuration, as cfg's identity. It
// needs config/400-webhook-service.yaml applied.
//
// The certificate reconciler first fills the Secret with its own certificate,
// which names the Service; the API server here cannot reach a Service, so the
// Secret is then given a certificate for 127.0.0.1 (the reconciler keeps any
// certificate that is not about to expire), and the server serves whatever
// the Secret holds, as the webhook in a pod does.
//
// Knative's defaulting and validation reconcilers are not run: they require
// a configuration that calls a Service. Install gives those configurations
// their CA bundle instead.
func StartWebhook(t harness.T, cfg *rest.Config, opts Options) *Webhook {
	t.Helper()
	opts = opts.withDefaults(t)
	ctx, cancel := context.WithCancel(opts.context())
	ctx = webhook.WithOptions(ctx, webhook.Options{ServiceName: connectorapi.WebhookServiceName, SecretName: connectorapi.WebhookSecretName})
	ctx, startInformers := injection.EnableInjectionOrDie(ctx, rest.CopyConfig(cfg))
	// As sharedmain's: config-oci-connector is followed live.
	cmw := cminformer.NewInformedWatcher(kubeclient.Get(ctx), connectorapi.SystemNamespace)
	certs := certificates.NewController(ctx, cmw)
	pods := podimages.NewController(ctx, cmw)
	admission := []any{
		pods.Reconciler,
		connectoradmission.NewDefaultingController(ctx, cmw).Reconciler,
		connectoradmission.NewValidationController(ctx, cmw).Reconciler,
	}
	wh, err := webhook.New(ctx, admission)
	if err != nil {
		cancel()
		t.Fatalf("creating the webhook: %v", err)
	}
	secrets := secretinformer.Get(ctx).Lister().Secrets(connectorapi.SystemNamespace)
	waitForInformers(t, cancel, startInformers)
	if err := cmw.Start(ctx.Done()); err != nil {
		cancel()
		t.Fatalf("watching the ConfigMaps: %v", err)
	}
	wh.InformersHaveSynced()
	stopped := runControllers(ctx, opts.Logger, certs, pods)

	client := kubernetes.NewForConfigOrDie(cfg)
	if err := waitForServiceCertificate(ctx, client); err != nil {
		cancel()
		t.Fatalf("the certificate reconciler: %v", err)
	}
	caPEM := useLoopbackCertificate(t, ctx, client)

	// Not httptest: its own certificate would win over GetCertificate for
	// clients that send no server name, as the API server does for an IP.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatalf("listening for the webhook: %v", err)
	}
	srv := &http.Server{
		Handler:           wh,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				s, err := secrets.Get(connectorapi.WebhookSecretName)
				if err != nil {
					return nil, err
				}
				cert, err := tls.X509KeyPair(s.Data[certresources.ServerCert], s.Data[certresources.ServerKey])
				return &cert, err
			},
		},
	}
	go srv.ServeTLS(l, "", "")
	t.Cleanup(func() {
		srv.Close()
		cancel()
		stopped()
	})
	return &Webhook{URL: "https://" + l.Addr().String(), CABundle: caPEM}
}

// waitForServiceCertificate waits for the certificate reconciler to fill the
// Secret with a certificate for the webhook's Service, signed by its CA.
func waitForServiceCertificate(ctx context.Context, client kubernetes.Interface) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		s, err := client.CoreV1().Secrets(connectorapi.SystemNamespace).Get(ctx, connectorapi.WebhookSecretName, metav1.GetOptions{})
		if err != nil {
			last = err
			return false, nil
		}
		last = verifyServiceCertificate(s.Data[certresources.ServerCert], s.Data[certresources.CACert])
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("%w; last: %v", err, last)
	}
	return nil
}

func verifyServiceCertificate(certPEM, caPEM []byte) error {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return fmt.Errorf("no serving certificate yet")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("no CA certificate")
	}
	_, err = cert.Verify(x509.VerifyOptions{
		DNSName: connectorapi.WebhookServiceName + "." + connectorapi.SystemNamespace + ".svc",
		Roots:   roots,
	})
	return err
}

// useLoopbackCertificate writes a CA and a certificate for 127.0.0.1 into
// the webhook's Secret, and returns the CA's PEM.
func useLoopbackCertificate(t harness.T, ctx context.Context, client kubernetes.Interface) []byte {
	t.Helper()
	caPEM, certPEM, keyPEM, err := loopbackCertificate()
	if err != nil {
		t.Fatalf("making a loopback certificate: %v", err)
	}
	s, err := client.CoreV1().Secrets(connectorapi.SystemNamespace).Get(ctx, connectorapi.WebhookSecretName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading the webhook Secret: %v", err)
	}
	s.Data = map[string][]byte{
		certresources.CACert:     caPEM,
		certresources.ServerCert: certPEM,
		certresources.ServerKey:  keyPEM,
	}
	if _, err := client.CoreV1().Secrets(connectorapi.SystemNamespace).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("writing the webhook Secret: %v", err)
	}
	return caPEM
}

func loopbackCertificate() (caPEM, certPEM, keyPEM []byte, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now()
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "oci-connector test webhook CA"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

// Install creates config/'s webhook configurations, as the cluster admin
// would apply them, with each call pointed at the server's URL instead of the
// Service. It waits until the pod webhook's reconciler has given its
// configuration the CA bundle; the others get theirs here.
func (w *Webhook) Install(t harness.T, adminConfig *rest.Config) {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatalf("finding the repository: %v", err)
	}
	client := kubernetes.NewForConfigOrDie(adminConfig)
	api := client.AdmissionregistrationV1()
	ctx := context.Background()
	for _, f := range []string{"500-webhook-connectors.yaml", "500-webhook-pods.yaml"} {
		objs, err := readManifests(filepath.Join(root, "config", f))
		if err != nil {
			t.Fatalf("reading config/%s: %v", f, err)
		}
		for _, obj := range objs {
			switch o := obj.(type) {
			case *admissionregistrationv1.MutatingWebhookConfiguration:
				for i := range o.Webhooks {
					w.pointAt(&o.Webhooks[i].ClientConfig, o.Name != podimages.WebhookName)
				}
				_, err = api.MutatingWebhookConfigurations().Create(ctx, o, metav1.CreateOptions{})
			case *admissionregistrationv1.ValidatingWebhookConfiguration:
				for i := range o.Webhooks {
					w.pointAt(&o.Webhooks[i].ClientConfig, true)
				}
				_, err = api.ValidatingWebhookConfigurations().Create(ctx, o, metav1.CreateOptions{})
			default:
				err = fmt.Errorf("unexpected %T", obj)
			}
			if err != nil {
				t.Fatalf("installing config/%s: %v", f, err)
			}
		}
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		mwc, err := api.MutatingWebhookConfigurations().Get(ctx, podimages.WebhookName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, h := range mwc.Webhooks {
			if !bytes.Equal(h.ClientConfig.CABundle, w.CABundle) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("the pod webhook's configuration never got the CA bundle: %v", err)
	}
}

// pointAt makes a client config call the server by URL, on the path the
// shipped Service reference names.
func (w *Webhook) pointAt(cc *admissionregistrationv1.WebhookClientConfig, withCA bool) {
	url := w.URL + *cc.Service.Path
	cc.Service = nil
	cc.URL = &url
	if withCA {
		cc.CABundle = w.CABundle
	}
}

// readManifests decodes the typed objects of a multi-document YAML file.
func readManifests(path string) ([]runtime.Object, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(f))
	var objs []runtime.Object
	for {
		doc, err := reader.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			return nil, err
		}
		objs = append(objs, obj)
	}
}
