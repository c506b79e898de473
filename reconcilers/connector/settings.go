package connector

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"time"

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

// SettingsFromEnv reads Settings, with defaults for what is unset.
func SettingsFromEnv() (Settings, error) {
	namespace := os.Getenv("SYSTEM_NAMESPACE")
	if namespace == "" {
		namespace = "oci-connector"
	}
	s := Settings{
		ProxyImage:       resources.ProxyImage,
		TimeoutSeconds:   resources.DefaultTimeoutSeconds,
		RecheckInterval:  DefaultRecheckInterval,
		ServingNamespace: DefaultServingNamespace,
		TokenRefreshURL:  DefaultTokenRefreshURL(namespace),
		AuditURL:         DefaultAuditURL(namespace),

		ProxyForwardedHops: DefaultProxyForwardedHops,
	}
	if v, set := os.LookupEnv("TOKENREFRESH_URL"); set {
		if u, err := url.Parse(v); v != "" && (err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https")) {
			return s, fmt.Errorf("TOKENREFRESH_URL=%q: want an http(s) URL, or empty to send no refresh events directly", v)
		}
		s.TokenRefreshURL = v
	}
	if v, set := os.LookupEnv("AUDIT_URL"); set {
		if u, err := url.Parse(v); v != "" && (err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https")) {
			return s, fmt.Errorf("AUDIT_URL=%q: want an http(s) URL, or empty when there is no audit function", v)
		}
		s.AuditURL = v
	}
	s.AuditTokenFile = os.Getenv("AUDIT_TOKEN_FILE")
	s.TokenRefreshTokenFile = os.Getenv("TOKENREFRESH_TOKEN_FILE")
	if v := os.Getenv("PROXY_FORWARDED_HOPS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return s, fmt.Errorf("PROXY_FORWARDED_HOPS=%q: want the number of proxies in front of each proxy (0 for none)", v)
		}
		s.ProxyForwardedHops = n
	}
	if v := os.Getenv("KNATIVE_SERVING_NAMESPACE"); v != "" {
		s.ServingNamespace = v
	}
	if v := os.Getenv("PROXY_IMAGE"); v != "" {
		s.ProxyImage = v
	}
	if v := os.Getenv("PROXY_TIMEOUT_SECONDS"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return s, fmt.Errorf("PROXY_TIMEOUT_SECONDS=%q: want a positive number of seconds", v)
		}
		s.TimeoutSeconds = n
	}
	if v := os.Getenv("UPSTREAM_RECHECK_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return s, fmt.Errorf("UPSTREAM_RECHECK_INTERVAL=%q: want a positive duration such as 5m", v)
		}
		s.RecheckInterval = d
	}
	return s, nil
}
