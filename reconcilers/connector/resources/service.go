// Package resources builds the objects the Connector reconciler keeps, as pure
// functions of their inputs.
package resources

import (
	"encoding/json"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"knative.dev/pkg/kmeta"
	"knative.dev/serving/pkg/apis/autoscaling"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/pkg/proxyenv"
)

// ProxyImage is the proxy's image as ko resolves it.
const ProxyImage = "ko://github.com/oci-connector/oci-connector/functions/proxy"

// DefaultTimeoutSeconds lets one request stream a multi-GB layer. Knative
// refuses a timeout above its max-revision-timeout-seconds (600 by default);
// the README says how to raise it.
const DefaultTimeoutSeconds = int64(3600)

const credentialsVolume = "upstream-credentials"

// The projected token the proxy presents to the audit trail with its events.
const (
	auditTokenVolume  = "audit-token"
	auditTokenDir     = "/var/run/secrets/oci-connector/audit"
	auditTokenSeconds = int64(3600)
)

// ServiceArgs are the inputs of MakeService besides the Connector.
type ServiceArgs struct {
	// Image is the proxy's container image.
	Image string
	// TimeoutSeconds is the revision's request timeout.
	TimeoutSeconds int64
	// SecretDigest identifies the upstream Secret's content.
	SecretDigest string
	// SinkURI is where the proxy sends CloudEvents; empty for none.
	SinkURI string
	// AuditURL is the audit function's address: the only sink the proxy
	// presents its audit token to.
	AuditURL string
	// ForwardedHops is how many proxies in front of the proxy append to
	// X-Forwarded-For.
	ForwardedHops int
	// ClusterConnector says the Connector serves the whole cluster: its
	// proxy accepts the node audience beside its own.
	ClusterConnector bool
	// CacheSecretDigest identifies the object store Secret's content (s3
	// cache storage).
	CacheSecretDigest string
}

// Audiences are the token audiences a Connector's proxy accepts: its own,
// and for a cluster Connector the node plane's.
func Audiences(c *v1alpha1.Connector, clusterConnector bool) []string {
	if clusterConnector {
		return []string{c.Audience(), v1alpha1.NodeAudience}
	}
	return []string{c.Audience()}
}

// MakeService builds the Knative Service that runs the Connector's proxy,
// from its defaulted spec (c.Spec.WithDefaults()).
func MakeService(c *v1alpha1.Connector, spec *v1alpha1.ConnectorSpec, args ServiceArgs) *servingv1.Service {

	labels := map[string]string{
		ConnectorLabel: c.Name,
		managedByLabel: managedByValue,
		componentLabel: componentValue,
	}
	ksvc := &servingv1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name:            ServiceName(c),
			Namespace:       c.Namespace,
			Labels:          labels,
			OwnerReferences: []metav1.OwnerReference{*kmeta.NewControllerRef(c)},
		},
		Spec: servingv1.ServiceSpec{
			ConfigurationSpec: servingv1.ConfigurationSpec{
				Template: servingv1.RevisionTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{
						Labels:      labels,
						Annotations: templateAnnotations(spec.Proxy, args.SecretDigest),
					},
					Spec: servingv1.RevisionSpec{
						TimeoutSeconds:       ptr.To(args.TimeoutSeconds),
						ContainerConcurrency: ptr.To(int64(0)),
						PodSpec: corev1.PodSpec{
							ServiceAccountName: ProxyServiceAccount,
							Containers: []corev1.Container{{
								Name:  "proxy",
								Image: args.Image,
								Env:   proxyEnv(c, spec, args),
								// Not ready while the upstream refuses every
								// password the proxy holds: a revision made for
								// a new Secret takes traffic once the registry
								// takes it (functions/proxy/readiness.go).
								ReadinessProbe: &corev1.Probe{
									ProbeHandler: corev1.ProbeHandler{
										HTTPGet: &corev1.HTTPGetAction{Path: connector.ProxyReadinessPath},
									},
									SuccessThreshold: 1,
								},
								VolumeMounts: []corev1.VolumeMount{{
									Name:      credentialsVolume,
									MountPath: proxyenv.DefaultCredentialsDir,
									ReadOnly:  true,
								}, {
									Name:      auditTokenVolume,
									MountPath: auditTokenDir,
									ReadOnly:  true,
								}},
								SecurityContext: &corev1.SecurityContext{
									AllowPrivilegeEscalation: ptr.To(false),
									ReadOnlyRootFilesystem:   ptr.To(true),
									RunAsNonRoot:             ptr.To(true),
									Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
									SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
								},
							}},
							Volumes: []corev1.Volume{{
								Name: credentialsVolume,
								// Readable by the proxy's user: the kubelet
								// writes the files as root, and the image runs
								// as a nonroot user (ko's base images do).
								// 0400 left the proxy unable to read them.
								VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
									SecretName:  spec.Auth.SecretRef.Name,
									DefaultMode: ptr.To(int32(0o444)),
								}},
							}, {
								Name: auditTokenVolume,
								VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
									Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
										Audience: events.AuditAudience, ExpirationSeconds: ptr.To(auditTokenSeconds), Path: "token",
									}}},
								}},
							}},
						},
					},
				},
			},
			// What defaulting would fill in, spelled out so the Service
			// validates as written.
			RouteSpec: servingv1.RouteSpec{Traffic: []servingv1.TrafficTarget{{
				LatestRevision: ptr.To(true),
				Percent:        ptr.To(int64(100)),
			}}},
		},
	}
	addCache(ksvc, spec.Cache, args.CacheSecretDigest)
	return ksvc
}

func templateAnnotations(p v1alpha1.ProxySpec, secretDigest string) map[string]string {
	return map[string]string{
		autoscaling.MinScaleAnnotationKey: strconv.Itoa(int(*p.MinScale)),
		autoscaling.MaxScaleAnnotationKey: strconv.Itoa(int(*p.MaxScale)),
		autoscaling.TargetAnnotationKey:   strconv.Itoa(int(*p.TargetConcurrency)),
		SecretDigestAnnotation:            secretDigest,
	}
}

func proxyEnv(c *v1alpha1.Connector, spec *v1alpha1.ConnectorSpec, args ServiceArgs) []corev1.EnvVar {
	env := []corev1.EnvVar{
		{Name: proxyenv.ConnectorNamespace, Value: c.Namespace},
		{Name: proxyenv.ConnectorName, Value: c.Name},
		{Name: proxyenv.UpstreamAddress, Value: spec.Address},
		{Name: proxyenv.Audience, Value: strings.Join(Audiences(c, args.ClusterConnector), ",")},
		{Name: proxyenv.CredentialsDir, Value: proxyenv.DefaultCredentialsDir},
		{Name: proxyenv.AuditTokenFile, Value: auditTokenDir + "/token"},
	}
	if repo := RepositoryScope(spec); repo != "" {
		env = append(env, corev1.EnvVar{Name: proxyenv.Repository, Value: repo})
	}
	if len(spec.Repositories) > 0 {
		// Marshalling a slice of plain structs cannot fail.
		raw, _ := json.Marshal(spec.Repositories)
		env = append(env, corev1.EnvVar{Name: proxyenv.Repositories, Value: string(raw)})
	}
	if spec.Proxy.AcceptAPIServerTokens {
		env = append(env, corev1.EnvVar{Name: proxyenv.AcceptAPIServerTokens, Value: "true"})
	}
	if spec.Proxy.BlobRedirects == v1alpha1.BlobRedirectsPass {
		env = append(env, corev1.EnvVar{Name: proxyenv.BlobRedirects, Value: string(v1alpha1.BlobRedirectsPass)})
	}
	if spec.InsecureSkipTLSVerify {
		env = append(env, corev1.EnvVar{Name: proxyenv.UpstreamInsecureSkipVerify, Value: "true"})
	}
	if args.SinkURI != "" {
		env = append(env, corev1.EnvVar{Name: proxyenv.Sink, Value: args.SinkURI})
	}
	if args.AuditURL != "" {
		env = append(env, corev1.EnvVar{Name: proxyenv.AuditURL, Value: args.AuditURL})
	}
	if args.ForwardedHops > 0 {
		env = append(env, corev1.EnvVar{Name: proxyenv.ForwardedHops, Value: strconv.Itoa(args.ForwardedHops)})
	}
	return env
}

// RepositoryScope is the auth.params repository glob, or "".
func RepositoryScope(spec *v1alpha1.ConnectorSpec) string {
	for _, p := range spec.Auth.Params {
		if p.Name == v1alpha1.ParamRepository {
			return p.Value
		}
	}
	return ""
}
