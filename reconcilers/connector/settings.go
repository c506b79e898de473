package connector

import (
	"fmt"

	"net/url"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/reconcilers/connector/resources"
)

// Settings are the controller's knobs, read from its environment.
type Settings struct {
	// ProxyImage is the proxy's image (PROXY_IMAGE); ko fills it in at install.
	ProxyImage string
	// TimeoutSeconds is the request timeout the controller asks for the
	// proxy (PROXY_TIMEOUT_SECONDS); it gets the most of it that Knative's
	// max-revision-timeout-seconds allows.
	TimeoutSeconds int64
	// RecheckInterval is how often the upstream is checked again (UPSTREAM_RECHECK_INTERVAL).
	RecheckInterval time.Duration
	// ServingNamespace is where Knative Serving keeps config-defaults
	// (KNATIVE_SERVING_NAMESPACE).
	ServingNamespace string
	// TokenRefreshURL is where pullsecrets.refresh events go
	// (TOKENREFRESH_URL): by default the tokenrefresh Knative Service's
	// cluster-local address in the controller's namespace. Set it empty when
	// a Broker and a Trigger deliver them instead.
	TokenRefreshURL string
	// AuditURL is the audit function's address (AUDIT_URL): by default its
	// cluster-local address in the controller's namespace. Only events sent
	// there carry AuditTokenFile, and proxies are told it too.
	AuditURL string
	// AuditTokenFile is a ServiceAccount token for the audit audience
	// (AUDIT_TOKEN_FILE); none when empty.
	AuditTokenFile string
	// TokenRefreshTokenFile is a ServiceAccount token for tokenrefresh's
	// audience (TOKENREFRESH_TOKEN_FILE), presented to TokenRefreshURL only.
	TokenRefreshTokenFile string
	// ProxyForwardedHops is how many proxies in front of each proxy append
	// to X-Forwarded-For (PROXY_FORWARDED_HOPS): Knative behind Traefik,
	// with the activator kept in the path, is 3 (see docs/security.md).
	ProxyForwardedHops int
}

// Credentials are the tokens the controller's events present, each to its
// own function's address only.
func (s Settings) Credentials() []events.Credential {
	return []events.Credential{
		{URL: s.AuditURL, TokenFile: s.AuditTokenFile},
		{URL: s.TokenRefreshURL, TokenFile: s.TokenRefreshTokenFile},
	}
}

// DefaultServingNamespace is where a default Knative Serving install lives.
const DefaultServingNamespace = "knative-serving"

// DefaultRecheckInterval is how often an upstream is checked when nothing changes.
const DefaultRecheckInterval = 5 * time.Minute

// DefaultTokenRefreshURL is the tokenrefresh Knative Service's
// cluster-local address when the controller runs in namespace.
func DefaultTokenRefreshURL(namespace string) string {
	return "http://tokenrefresh." + namespace + ".svc.cluster.local"
}

// DefaultAuditURL is the audit Knative Service's cluster-local address
// when the controller runs in namespace.
func DefaultAuditURL(namespace string) string {
	return "http://audit." + namespace + ".svc.cluster.local"
}

// DefaultProxyForwardedHops is Knative behind one ingress with the
// activator in the path: ingress, activator, queue-proxy.
const DefaultProxyForwardedHops = 3

// environment is the controller's environment (config/500-controller.yaml);
// a pointer tells unset from set to empty where the two differ.
type environment struct {
	ProxyImage            string         `envconfig:"PROXY_IMAGE"`
	TimeoutSeconds        *int64         `envconfig:"PROXY_TIMEOUT_SECONDS"`
	RecheckInterval       *time.Duration `envconfig:"UPSTREAM_RECHECK_INTERVAL"`
	ServingNamespace      string         `envconfig:"KNATIVE_SERVING_NAMESPACE"`
	TokenRefreshURL       *string        `envconfig:"TOKENREFRESH_URL"`
	TokenRefreshTokenFile string         `envconfig:"TOKENREFRESH_TOKEN_FILE"`
	AuditURL              *string        `envconfig:"AUDIT_URL"`
	AuditTokenFile        string         `envconfig:"AUDIT_TOKEN_FILE"`
	ProxyForwardedHops    *int           `envconfig:"PROXY_FORWARDED_HOPS"`
}

// SettingsFromEnv reads Settings for a controller running in namespace,
// with defaults for what is unset.
func SettingsFromEnv(namespace string) (Settings, error) {
	var env environment
	if err := envconfig.Process("", &env); err != nil {
		return Settings{}, err
	}
	s := Settings{
		ProxyImage:            resources.ProxyImage,
		TimeoutSeconds:        resources.DefaultTimeoutSeconds,
		RecheckInterval:       DefaultRecheckInterval,
		ServingNamespace:      DefaultServingNamespace,
		TokenRefreshURL:       DefaultTokenRefreshURL(namespace),
		TokenRefreshTokenFile: env.TokenRefreshTokenFile,
		AuditURL:              DefaultAuditURL(namespace),
		AuditTokenFile:        env.AuditTokenFile,
		ProxyForwardedHops:    DefaultProxyForwardedHops,
	}
	if env.ProxyImage != "" {
		s.ProxyImage = env.ProxyImage
	}
	if env.ServingNamespace != "" {
		s.ServingNamespace = env.ServingNamespace
	}
	if t := env.TimeoutSeconds; t != nil {
		if *t <= 0 {
			return s, fmt.Errorf("PROXY_TIMEOUT_SECONDS=%d: want a positive number of seconds", *t)
		}
		s.TimeoutSeconds = *t
	}
	if d := env.RecheckInterval; d != nil {
		if *d <= 0 {
			return s, fmt.Errorf("UPSTREAM_RECHECK_INTERVAL=%v: want a positive duration such as 5m", *d)
		}
		s.RecheckInterval = *d
	}
	if env.TokenRefreshURL != nil {
		if err := httpURLOrEmpty("TOKENREFRESH_URL", *env.TokenRefreshURL, "or empty to send no refresh events directly"); err != nil {
			return s, err
		}
		s.TokenRefreshURL = *env.TokenRefreshURL
	}
	if env.AuditURL != nil {
		if err := httpURLOrEmpty("AUDIT_URL", *env.AuditURL, "or empty when there is no audit function"); err != nil {
			return s, err
		}
		s.AuditURL = *env.AuditURL
	}
	if env.ProxyForwardedHops != nil {
		if *env.ProxyForwardedHops < 0 {
			return s, fmt.Errorf("PROXY_FORWARDED_HOPS=%d: want the number of proxies in front of each proxy (0 for none)", *env.ProxyForwardedHops)
		}
		s.ProxyForwardedHops = *env.ProxyForwardedHops
	}
	return s, nil
}

// httpURLOrEmpty refuses a value of variable that is neither empty nor an
// http(s) URL with a host.
func httpURLOrEmpty(variable, v, emptyMeans string) error {
	if v == "" {
		return nil
	}
	if u, err := url.Parse(v); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("%s=%q: want an http(s) URL, %s", variable, v, emptyMeans)
	}
	return nil
}
