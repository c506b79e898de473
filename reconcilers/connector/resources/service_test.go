package resources_test

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"knative.dev/pkg/apis"
	"knative.dev/serving/pkg/apis/autoscaling"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/pkg/proxyenv"
	"github.com/oci-connector/oci-connector/reconcilers/connector/resources"
	rtesting "github.com/oci-connector/oci-connector/reconcilers/testing"
)

func testConnector() *v1alpha1.Connector {
	return &v1alpha1.Connector{
		ObjectMeta: metav1.ObjectMeta{Namespace: "platform", Name: "harbor", UID: "uid-1"},
		Spec: v1alpha1.ConnectorSpec{
			Address: "https://harbor.example.com",
			Auth: v1alpha1.ConnectorAuth{
				SecretRef: &v1alpha1.SecretReference{Name: "harbor-secret"},
				Params:    []v1alpha1.Param{{Name: "repository", Value: "testing/*"}},
			},
			Repositories: []v1alpha1.RepositoryAccess{{Path: "team-a/*", Access: []v1alpha1.Verb{"pull"}}},
			Proxy:        v1alpha1.ProxySpec{MaxScale: ptr.To(int32(4))},
		},
	}
}

func TestMakeService(t *testing.T) {
	conn := testConnector()
	ksvc := resources.MakeService(conn, conn.Spec.WithDefaults(), resources.ServiceArgs{Image: "img", TimeoutSeconds: 3600, SecretDigest: "d1", SinkURI: "http://audit.platform.svc"})

	if ksvc.Name != "c-harbor" || ksvc.Namespace != "platform" {
		t.Errorf("name = %s/%s, want platform/c-harbor", ksvc.Namespace, ksvc.Name)
	}
	if len(ksvc.OwnerReferences) != 1 || ksvc.OwnerReferences[0].UID != "uid-1" || !*ksvc.OwnerReferences[0].Controller {
		t.Errorf("owner references = %+v, want the Connector as controller", ksvc.OwnerReferences)
	}
	ann := ksvc.Spec.Template.Annotations
	for k, want := range map[string]string{
		autoscaling.MinScaleAnnotationKey: "1", // default: no cold start on a pull
		autoscaling.MaxScaleAnnotationKey: "4",
		autoscaling.TargetAnnotationKey:   "100",
		resources.SecretDigestAnnotation:  "d1",
	} {
		if ann[k] != want {
			t.Errorf("annotation %s = %q, want %q", k, ann[k], want)
		}
	}
	spec := ksvc.Spec.Template.Spec
	if *spec.TimeoutSeconds != 3600 {
		t.Errorf("timeoutSeconds = %d", *spec.TimeoutSeconds)
	}
	c := spec.Containers[0]
	if c.Image != "img" {
		t.Errorf("image = %s", c.Image)
	}
	if len(c.VolumeMounts) != 2 || !c.VolumeMounts[0].ReadOnly || c.VolumeMounts[0].MountPath != proxyenv.DefaultCredentialsDir || !c.VolumeMounts[1].ReadOnly {
		t.Errorf("volume mounts = %+v, want the Secret read-only at %s and the audit token", c.VolumeMounts, proxyenv.DefaultCredentialsDir)
	}
	if spec.Volumes[0].Secret == nil || spec.Volumes[0].Secret.SecretName != "harbor-secret" {
		t.Errorf("volumes = %+v, want Secret harbor-secret", spec.Volumes)
	}
	// The audit trail hears from the proxy with a token for its own audience.
	if p := spec.Volumes[1].Projected; p == nil || len(p.Sources) != 1 || p.Sources[0].ServiceAccountToken == nil ||
		p.Sources[0].ServiceAccountToken.Audience != events.AuditAudience {
		t.Errorf("volumes = %+v, want a projected token for %s", spec.Volumes, events.AuditAudience)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	for k, want := range map[string]string{
		proxyenv.ConnectorNamespace: "platform",
		proxyenv.ConnectorName:      "harbor",
		proxyenv.UpstreamAddress:    "https://harbor.example.com",
		proxyenv.Audience:           "oci-connector.dev/platform/harbor",
		proxyenv.Repository:         "testing/*",
		proxyenv.Repositories:       `[{"path":"team-a/*","access":["pull"]}]`,
		proxyenv.Sink:               "http://audit.platform.svc",
		proxyenv.AuditTokenFile:     "/var/run/secrets/oci-connector/audit/token",
	} {
		if env[k] != want {
			t.Errorf("env %s = %q, want %q", k, env[k], want)
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil || strings.Contains(strings.ToLower(e.Name), "password") {
			t.Errorf("env %s carries a credential; the Secret is only mounted", e.Name)
		}
	}
}

func TestMakeServiceValidatesInAnInstall(t *testing.T) {
	ctx := rtesting.ServingInstallContext(context.Background())
	c := testConnector()
	ksvc := resources.MakeService(c, c.Spec.WithDefaults(), resources.ServiceArgs{Image: "example.com/proxy:v1", TimeoutSeconds: resources.DefaultTimeoutSeconds, SecretDigest: "d"})
	ksvc.SetDefaults(ctx)
	if err := ksvc.Validate(ctx); err != nil {
		t.Fatalf("Knative refuses the Service: %v", err)
	}

	// Without the README's max-revision-timeout-seconds, Knative refuses an
	// hour-long timeout: the note there is needed.
	if err := ksvc.Validate(context.Background()); err == nil {
		t.Fatal("Knative's default 600s maximum accepted a 3600s timeout; the README note is wrong")
	}
}

// What the controller builds passes Knative's own validation for every
// valid Connector name, on a default Knative (where the controller asks for
// its 600s maximum) and on one with the raised timeout.
func TestMakeServiceValidatesForEveryNameAndKnative(t *testing.T) {
	installs := map[string]struct {
		ctx     context.Context
		timeout int64
	}{
		"default Knative": {context.Background(), 600},
		"raised timeout":  {rtesting.ServingInstallContext(context.Background()), resources.DefaultTimeoutSeconds},
	}
	for _, name := range []string{"harbor", "harbor.example.com", strings.Repeat("registry.", 7)[:62] + "z", strings.Repeat("a", 63)} {
		for install, k := range installs {
			c := testConnector()
			c.Name = name
			ksvc := resources.MakeService(c, c.Spec.WithDefaults(), resources.ServiceArgs{Image: "example.com/proxy:v1", TimeoutSeconds: k.timeout, SecretDigest: "d"})
			ctx := apis.WithinCreate(k.ctx)
			ksvc.SetDefaults(ctx)
			if err := ksvc.Validate(ctx); err != nil {
				t.Errorf("Connector %q on %s: Knative refuses Service %q: %v", name, install, ksvc.Name, err)
			}
		}
	}
}

// Dotted names that differ only in dots and dashes get different Services.
func TestServiceNamesOfDottedNamesDoNotMeet(t *testing.T) {
	a, b := testConnector(), testConnector()
	a.Name, b.Name = "harbor.example.com", "harbor-example-com"
	if resources.ServiceName(a) == resources.ServiceName(b) {
		t.Errorf("%q and %q both get Service %q", a.Name, b.Name, resources.ServiceName(a))
	}
}

func TestServiceNameFitsADNSLabel(t *testing.T) {
	c := testConnector()
	c.Name = strings.Repeat("a", 70)
	if n := resources.ServiceName(c); len(n) > 63 || !strings.HasPrefix(n, "c-") {
		t.Errorf("resources.ServiceName = %q (%d chars), want c-... within 63", n, len(n))
	}
}

func TestMakeServiceCarriesTheOptIns(t *testing.T) {
	c := testConnector()
	plain := resources.MakeService(c, c.Spec.WithDefaults(), resources.ServiceArgs{Image: "img"})
	for _, e := range plain.Spec.Template.Spec.Containers[0].Env {
		if e.Name == proxyenv.AcceptAPIServerTokens || e.Name == proxyenv.UpstreamInsecureSkipVerify || e.Name == proxyenv.BlobRedirects {
			t.Errorf("%s is set without the Connector asking", e.Name)
		}
	}
	c.Spec.Proxy.AcceptAPIServerTokens = true
	c.Spec.InsecureSkipTLSVerify = true
	c.Spec.Proxy.BlobRedirects = v1alpha1.BlobRedirectsPass
	env := map[string]string{}
	for _, e := range resources.MakeService(c, c.Spec.WithDefaults(), resources.ServiceArgs{Image: "img"}).Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	if env[proxyenv.AcceptAPIServerTokens] != "true" || env[proxyenv.UpstreamInsecureSkipVerify] != "true" || env[proxyenv.BlobRedirects] != "pass" {
		t.Errorf("opt-ins not passed to the proxy: %v", env)
	}
}
