package connector

import (
	"fmt"
	"os"
	"strconv"
	"time"

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
}

// DefaultServingNamespace is where a default Knative Serving install lives.
const DefaultServingNamespace = "knative-serving"

// DefaultRecheckInterval is how often an upstream is checked when nothing changes.
const DefaultRecheckInterval = 5 * time.Minute

// SettingsFromEnv reads Settings, with defaults for what is unset.
func SettingsFromEnv() (Settings, error) {
	s := Settings{
		ProxyImage:       resources.ProxyImage,
		TimeoutSeconds:   resources.DefaultTimeoutSeconds,
		RecheckInterval:  DefaultRecheckInterval,
		ServingNamespace: DefaultServingNamespace,
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
