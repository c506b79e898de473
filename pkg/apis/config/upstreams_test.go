package config

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// fakeResolver knows a few names.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}

func TestAllowsUpstream(t *testing.T) {
	resolver := fakeResolver{
		"harbor.internal":   {netip.MustParseAddr("10.1.2.3")},
		"split.example.org": {netip.MustParseAddr("10.1.2.4"), netip.MustParseAddr("169.254.169.254")},
	}
	for _, tc := range []struct {
		name, rules, host string
		allowed           bool
	}{
		{"no rules: anything", "", "169.254.169.254", true},
		{"a host glob", "*.example.com, 10.0.0.0/8", "registry.example.com", true},
		{"a host glob is no suffix match", "*.example.com", "example.com.evil.io", false},
		{"an IP in a CIDR", "10.0.0.0/8", "10.9.9.9", true},
		{"an IP outside", "10.0.0.0/8", "169.254.169.254", false},
		{"a name that resolves inside", "10.0.0.0/8", "harbor.internal", true},
		{"a name with one address outside", "10.0.0.0/8", "split.example.org", false},
		{"a name that does not resolve", "10.0.0.0/8", "nowhere.invalid", false},
		{"hosts only: a name not listed", "harbor.example.com", "quay.io", false},
		{"an IPv6 literal", "fd00::/8", "[fd00::1]", true},
	} {
		c, err := NewTenancyFromConfigMap(&corev1.ConfigMap{Data: map[string]string{UpstreamsKey: tc.rules}})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		err = c.AllowsUpstream(context.Background(), resolver, tc.host)
		if (err == nil) != tc.allowed {
			t.Errorf("%s: AllowsUpstream(%q) = %v, want allowed=%v", tc.name, tc.host, err, tc.allowed)
		}
		if err != nil && !strings.Contains(err.Error(), UpstreamsKey) {
			t.Errorf("%s: the refusal does not name %s: %v", tc.name, UpstreamsKey, err)
		}
	}
	if _, err := NewTenancyFromConfigMap(&corev1.ConfigMap{Data: map[string]string{UpstreamsKey: "10.0.0.0/33"}}); err == nil {
		t.Error("a bad CIDR was taken")
	}
}
