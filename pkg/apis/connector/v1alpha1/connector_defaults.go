package v1alpha1

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/oci-connector/oci-connector/pkg/apis/connector"
)

// Defaults the proxy and pull secrets use when the spec is silent.
const (
	// NodeAudience and CSIAudience: see package connector.
	NodeAudience             = connector.NodeAudience
	CSIAudience              = connector.CSIAudience
	DefaultMinScale          = int32(1)
	DefaultMaxScale          = int32(10)
	DefaultTargetConcurrency = int32(100)
	DefaultRefreshBefore     = 15 * time.Minute
	DefaultTokenTTL          = time.Hour
	DefaultServiceAccount    = "default"
)

// SetDefaults fills in what the spec leaves out.
func (c *Connector) SetDefaults(ctx context.Context) {
	c.Spec.SetDefaults(ctx)
}

// SetDefaults fills in what the spec leaves out.
func (s *ConnectorSpec) SetDefaults(context.Context) {
	s.setDefaults()
}

// WithDefaults returns a defaulted copy: what the controller acts on, also
// for Connectors stored before a default existed or without the webhook.
func (s *ConnectorSpec) WithDefaults() *ConnectorSpec {
	out := s.DeepCopy()
	out.setDefaults()
	return out
}

func (s *ConnectorSpec) setDefaults() {
	if s.ConnectorClassName == "" {
		s.ConnectorClassName = ConnectorClassOCI
	}
	if s.Auth.Name == "" {
		s.Auth.Name = AuthBasic
	}
	s.Proxy.setDefaults()
	if s.PullSecrets != nil {
		s.PullSecrets.setDefaults()
	}
	if s.Cache != nil {
		s.Cache.setDefaults()
	}
}

func (p *ProxySpec) setDefaults() {
	if p.MinScale == nil {
		p.MinScale = ptr.To(DefaultMinScale)
	}
	if p.MaxScale == nil {
		p.MaxScale = ptr.To(max(DefaultMaxScale, *p.MinScale))
	}
	if p.TargetConcurrency == nil {
		p.TargetConcurrency = ptr.To(DefaultTargetConcurrency)
	}
	if p.BlobRedirects == "" {
		p.BlobRedirects = BlobRedirectsFollow
	}
}

func (p *PullSecretsSpec) setDefaults() {
	if len(p.ServiceAccounts) == 0 {
		p.ServiceAccounts = []string{DefaultServiceAccount}
	}
	if p.RefreshBefore == nil {
		p.RefreshBefore = &metav1.Duration{Duration: DefaultRefreshBefore}
	}
	if p.TokenTTL == nil {
		p.TokenTTL = &metav1.Duration{Duration: DefaultTokenTTL}
	}
}

// Audience is the token audience of this Connector's proxy: its own, so a
// token sent to one Connector's proxy is worth nothing at another's.
func (c *Connector) Audience() string {
	return ConnectorAudience(c.Namespace, c.Name)
}

// ConnectorAudience is the audience of the Connector namespace/name.
func ConnectorAudience(namespace, name string) string {
	return connector.ConnectorAudience(namespace, name)
}
