package connector

import (
	"strings"
	"testing"
	"time"
)

// The controller's environment: defaults for what is unset, an empty
// TOKENREFRESH_URL kept empty (a Broker delivers), and a clear refusal of
// what cannot be right.
func TestSettingsFromEnv(t *testing.T) {
	t.Setenv("TOKENREFRESH_URL", "")
	t.Setenv("UPSTREAM_RECHECK_INTERVAL", "90s")
	s, err := SettingsFromEnv("install")
	if err != nil {
		t.Fatal(err)
	}
	if s.TokenRefreshURL != "" || s.RecheckInterval != 90*time.Second || s.AuditURL != DefaultAuditURL("install") ||
		s.ProxyForwardedHops != DefaultProxyForwardedHops || s.ServingNamespace != DefaultServingNamespace {
		t.Errorf("settings %+v", s)
	}
	for variable, bad := range map[string]string{
		"PROXY_TIMEOUT_SECONDS":     "0",
		"UPSTREAM_RECHECK_INTERVAL": "-1m",
		"AUDIT_URL":                 "ftp://audit",
		"PROXY_FORWARDED_HOPS":      "-1",
	} {
		t.Run(variable, func(t *testing.T) {
			t.Setenv(variable, bad)
			if _, err := SettingsFromEnv("install"); err == nil || !strings.Contains(err.Error(), variable) {
				t.Errorf("%s=%s: %v, want a refusal naming it", variable, bad, err)
			}
		})
	}
}
