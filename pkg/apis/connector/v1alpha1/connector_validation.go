package v1alpha1

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	"github.com/oci-connector/oci-connector/pkg/apis/config"
)

// Bounds that keep a proxy and its tokens sane.
const (
	maxProxyScale        = 1000
	maxTargetConcurrency = 10000
	minTokenTTL          = 10 * time.Minute // the API server refuses shorter bound tokens
	maxTokenTTL          = 24 * time.Hour
)

// repositoryGlob is a repository path as the distribution spec allows it,
// with the glob characters * ? [ ] added.
var repositoryGlob = regexp.MustCompile(`^[a-z0-9*?\[\]]+(?:(?:[._]|__|[-]+|/)[a-z0-9*?\[\]]+)*$`)

// Validate checks a Connector and returns every problem with its field path.
func (c *Connector) Validate(ctx context.Context) *apis.FieldError {
	errs := validateName(c.Name).ViaField("metadata").Also(c.Spec.Validate(ctx).ViaField("spec"))
	if apis.IsInStatusUpdate(ctx) {
		// The controller reports on what is; it must be able to say a spec
		// that the trust Config no longer allows is wrong.
		return errs
	}
	return errs.Also(c.validateTenancy(ctx)).Also(c.validateAudience(ctx))
}

// validateAudience refuses a chosen audience: a Connector could otherwise
// take the API server's, another Connector's or the node plane's. An older
// Connector that holds one keeps it unchanged; it is ignored.
func (c *Connector) validateAudience(ctx context.Context) *apis.FieldError {
	if c.Spec.Proxy.Audience == "" {
		return nil
	}
	if old, ok := apis.GetBaseline(ctx).(*Connector); ok && old.Spec.Proxy.Audience == c.Spec.Proxy.Audience {
		return nil
	}
	return &apis.FieldError{
		Message: "the audience is not chosen any more: each Connector's proxy accepts its own, " + c.Audience() + " (status.audience)",
		Paths:   []string{"spec.proxy.audience"},
	}
}

// validateTenancy refuses a namespaced Connector that would write pull
// secrets beyond its own namespace. The webhook carries the admin's Config;
// without one (a client-side check) there is nothing to check against.
func (c *Connector) validateTenancy(ctx context.Context) *apis.FieldError {
	cfg := config.FromContext(ctx)
	if cfg == nil || c.Spec.PullSecrets == nil {
		return nil
	}
	tenancy := cfg.Tenancy
	if tenancy.IsCluster(c.Namespace) ||
		config.SelectsOnlyHome(c.Spec.PullSecrets.NamespaceSelector, c.Namespace) {
		return nil
	}
	// A selector allowed when it was written stays allowed to be kept (the
	// status says it is not served); only a new one is refused.
	if old, ok := apis.GetBaseline(ctx).(*Connector); ok && old.Spec.PullSecrets != nil &&
		equality.Semantic.DeepEqual(old.Spec.PullSecrets.NamespaceSelector, c.Spec.PullSecrets.NamespaceSelector) {
		return nil
	}
	return &apis.FieldError{
		Message: "only a cluster Connector may select other namespaces for pull secrets",
		Paths:   []string{"spec.pullSecrets.namespaceSelector"},
		Details: fmt.Sprintf("namespace %s does not hold cluster Connectors (config-oci-connector's %s: %s); leave namespaceSelector out to serve this namespace, or ask the cluster admin",
			c.Namespace, config.ClusterConnectorNamespacesKey, strings.Join(tenancy.ClusterNamespaces, ",")),
	}
}

// validateName keeps a Connector's name within a label's 63 characters: it
// is the value of the label on the proxy Service and on the pull secrets,
// and its proxy's host name is made from it. Dots are fine.
func validateName(name string) *apis.FieldError {
	if len(name) > validation.LabelValueMaxLength {
		return apis.ErrInvalidValue(name, "name",
			fmt.Sprintf("a Connector's name may have at most %d characters (it labels the proxy Service); this one has %d", validation.LabelValueMaxLength, len(name)))
	}
	return nil
}

// Validate checks a ConnectorSpec.
func (s *ConnectorSpec) Validate(ctx context.Context) *apis.FieldError {
	var errs *apis.FieldError
	if s.ConnectorClassName != ConnectorClassOCI {
		errs = errs.Also(apis.ErrInvalidValue(s.ConnectorClassName, "connectorClassName",
			fmt.Sprintf("the only class is %q", ConnectorClassOCI)))
	}
	errs = errs.Also(validateAddress(s.Address).ViaField("address"))
	errs = errs.Also(s.Auth.validate().ViaField("auth"))
	for i, r := range s.Repositories {
		errs = errs.Also(r.validate().ViaFieldIndex("repositories", i))
	}
	errs = errs.Also(s.Proxy.validate().ViaField("proxy"))
	if s.Sink != nil {
		// A ref may name its API by group alone (KReference.group); the
		// controller picks the group's preferred version.
		errs = errs.Also(s.Sink.Validate(duckv1.KReferenceGroupAllowed(ctx)).ViaField("sink"))
	}
	if s.PullSecrets != nil {
		errs = errs.Also(s.PullSecrets.validate().ViaField("pullSecrets"))
	}
	if s.Cache != nil {
		errs = errs.Also(s.Cache.Validate(ctx).ViaField("cache"))
	}
	return errs
}

func validateAddress(address string) *apis.FieldError {
	if address == "" {
		return apis.ErrMissingField(apis.CurrentField)
	}
	u, err := url.Parse(address)
	switch {
	case err != nil:
		return apis.ErrInvalidValue(address, apis.CurrentField, "not a URL: "+err.Error())
	case u.Scheme != "http" && u.Scheme != "https":
		return apis.ErrInvalidValue(address, apis.CurrentField, "the scheme must be http or https")
	case u.Host == "":
		return apis.ErrInvalidValue(address, apis.CurrentField, "the URL needs a host")
	case u.User != nil:
		// Never echo the value: it holds a credential.
		return &apis.FieldError{Message: "the URL must not hold user info; put credentials in the Secret", Paths: []string{apis.CurrentField}}
	case u.RawQuery != "" || u.Fragment != "":
		return apis.ErrInvalidValue(address, apis.CurrentField, "the URL must have no query or fragment")
	case u.Path != "" && u.Path != "/":
		return apis.ErrInvalidValue(address, apis.CurrentField, "the URL must have no path; name repositories in auth.params or repositories")
	}
	return nil
}

func (a *ConnectorAuth) validate() *apis.FieldError {
	var errs *apis.FieldError
	if a.Name != AuthBasic && a.Name != AuthToken {
		errs = errs.Also(apis.ErrInvalidValue(a.Name, "name", fmt.Sprintf("must be %q or %q", AuthBasic, AuthToken)))
	}
	switch {
	case a.SecretRef == nil:
		errs = errs.Also(apis.ErrMissingField("secretRef"))
	case a.SecretRef.Name == "":
		errs = errs.Also(apis.ErrMissingField("secretRef.name"))
	default:
		for _, msg := range validation.IsDNS1123Subdomain(a.SecretRef.Name) {
			errs = errs.Also(apis.ErrInvalidValue(a.SecretRef.Name, "secretRef.name", msg))
		}
	}
	seen := map[string]bool{}
	for i, p := range a.Params {
		switch {
		case p.Name == "":
			errs = errs.Also(apis.ErrMissingField("name").ViaFieldIndex("params", i))
		case seen[p.Name]:
			errs = errs.Also(apis.ErrMultipleOneOf("name").ViaFieldIndex("params", i))
		case p.Name == ParamRepository:
			errs = errs.Also(validateGlob(p.Value).ViaField("value").ViaFieldIndex("params", i))
		default:
			errs = errs.Also(apis.ErrInvalidValue(p.Name, "name", fmt.Sprintf("the only param is %q", ParamRepository)).ViaFieldIndex("params", i))
		}
		seen[p.Name] = true
	}
	return errs
}

func (r *RepositoryAccess) validate() *apis.FieldError {
	errs := validateGlob(r.Path).ViaField("path")
	if len(r.Access) == 0 {
		errs = errs.Also(apis.ErrMissingField("access"))
	}
	for i, v := range r.Access {
		if v != VerbPull && v != VerbPush {
			errs = errs.Also(apis.ErrInvalidArrayValue(v, "access", i))
		}
	}
	return errs
}

func validateGlob(glob string) *apis.FieldError {
	if glob == "" {
		return apis.ErrMissingField(apis.CurrentField)
	}
	if !repositoryGlob.MatchString(glob) {
		return apis.ErrInvalidValue(glob, apis.CurrentField, "must be a repository path such as team-a/app, with * ? [] globs")
	}
	if _, err := path.Match(glob, ""); err != nil {
		return apis.ErrInvalidValue(glob, apis.CurrentField, "bad glob: "+err.Error())
	}
	return nil
}

func (p *ProxySpec) validate() *apis.FieldError {
	var errs *apis.FieldError
	if p.MinScale != nil && (*p.MinScale < 0 || *p.MinScale > maxProxyScale) {
		errs = errs.Also(apis.ErrOutOfBoundsValue(*p.MinScale, 0, maxProxyScale, "minScale"))
	}
	if p.MaxScale != nil && (*p.MaxScale < 1 || *p.MaxScale > maxProxyScale) {
		errs = errs.Also(apis.ErrOutOfBoundsValue(*p.MaxScale, 1, maxProxyScale, "maxScale"))
	}
	if p.MinScale != nil && p.MaxScale != nil && *p.MinScale > *p.MaxScale {
		errs = errs.Also(&apis.FieldError{Message: "minScale must not exceed maxScale", Paths: []string{"minScale", "maxScale"}})
	}
	if p.TargetConcurrency != nil && (*p.TargetConcurrency < 1 || *p.TargetConcurrency > maxTargetConcurrency) {
		errs = errs.Also(apis.ErrOutOfBoundsValue(*p.TargetConcurrency, 1, maxTargetConcurrency, "targetConcurrency"))
	}
	if !p.BlobRedirects.Valid() {
		errs = errs.Also(apis.ErrInvalidValue(p.BlobRedirects, "blobRedirects", `must be "follow" or "pass"`))
	}
	return errs
}

func (p *PullSecretsSpec) validate() *apis.FieldError {
	var errs *apis.FieldError
	if p.NamespaceSelector != nil {
		if _, err := metav1.LabelSelectorAsSelector(p.NamespaceSelector); err != nil {
			errs = errs.Also(apis.ErrInvalidValue(err.Error(), "namespaceSelector"))
		}
	}
	for i, sa := range p.ServiceAccounts {
		if sa == "*" {
			continue
		}
		for _, msg := range validation.IsDNS1123Subdomain(sa) {
			errs = errs.Also(apis.ErrInvalidArrayValue(sa, "serviceAccounts", i).Also(&apis.FieldError{Message: msg, Paths: []string{fmt.Sprintf("serviceAccounts[%d]", i)}}))
		}
	}
	if p.TokenTTL != nil && (p.TokenTTL.Duration < minTokenTTL || p.TokenTTL.Duration > maxTokenTTL) {
		errs = errs.Also(apis.ErrOutOfBoundsValue(p.TokenTTL.Duration, minTokenTTL, maxTokenTTL, "tokenTTL"))
	}
	if p.RefreshBefore != nil && p.TokenTTL != nil && (p.RefreshBefore.Duration <= 0 || p.RefreshBefore.Duration >= p.TokenTTL.Duration) {
		errs = errs.Also(apis.ErrInvalidValue(p.RefreshBefore.Duration.String(), "refreshBefore", "must be positive and shorter than tokenTTL"))
	}
	return errs
}

// SupportedVerbs limits Knative's validating webhook to writes. Nothing about
// a delete needs validating, and a webhook on it would block deleting
// Connectors, and their namespaces, whenever the controller is down.
func (*Connector) SupportedVerbs() []admissionregistrationv1.OperationType {
	return []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
}
