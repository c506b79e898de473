package config

import (
	"context"
	"testing"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNewTenancyFromConfigMap(t *testing.T) {
	for _, tc := range []struct {
		name    string
		data    map[string]string
		cluster []string
		bad     bool
	}{
		{"no key: the install namespace", nil, []string{"oci-connector"}, false},
		{"a list, spaces and empties dropped", map[string]string{ClusterConnectorNamespacesKey: " platform, ,shared "}, []string{"platform", "shared"}, false},
		{"empty: none", map[string]string{ClusterConnectorNamespacesKey: ""}, nil, false},
		{"kube-system may not hold cluster Connectors", map[string]string{ClusterConnectorNamespacesKey: "kube-system"}, nil, true},
	} {
		got, err := NewTenancyFromConfigMap(&corev1.ConfigMap{Data: tc.data})
		if (err != nil) != tc.bad {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !tc.bad && !equal(got.ClusterNamespaces, tc.cluster) {
			t.Errorf("%s: cluster namespaces %v, want %v", tc.name, got.ClusterNamespaces, tc.cluster)
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWhoMayServeAndMint(t *testing.T) {
	tn := &Tenancy{ClusterNamespaces: []string{"platform"}}
	for _, tc := range []struct {
		from, to string
		want     bool
	}{
		{"team-a", "team-a", true},
		{"team-a", "team-b", false},
		{"platform", "team-b", true},
		{"platform", "kube-system", false},
	} {
		if got := tn.MayServe(tc.from, tc.to); got != tc.want {
			t.Errorf("MayServe(%s, %s) = %v", tc.from, tc.to, got)
		}
	}
	for ns, want := range map[string]bool{"team-a": true, "kube-system": false, "oci-connector": false} {
		if got := MayMintIn(ns, "oci-connector"); got != want {
			t.Errorf("MayMintIn(%s) = %v", ns, got)
		}
	}
}

// The store gives the defaults until the ConfigMap is read, the ConfigMap's
// value after, tells its listeners, and carries it in a context.
func TestStore(t *testing.T) {
	s := NewStore(zap.NewNop().Sugar())
	if got := s.Load().Tenancy.ClusterNamespaces; !equal(got, []string{"oci-connector"}) {
		t.Errorf("before the ConfigMap: %v", got)
	}
	changed := 0
	s.OnChange(func() { changed++ })
	s.OnConfigChanged(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: ConfigName}, Data: map[string]string{ClusterConnectorNamespacesKey: "platform"}})
	if got := s.Load().Tenancy.ClusterNamespaces; !equal(got, []string{"platform"}) || changed != 1 {
		t.Errorf("after the ConfigMap: %v, %d changes", got, changed)
	}
	ctx := s.ToContext(context.Background())
	if got := FromContext(ctx).Tenancy.ClusterNamespaces; !equal(got, []string{"platform"}) {
		t.Errorf("from the context: %v", got)
	}
	if FromContext(context.Background()) != nil || FromContextOrDefaults(context.Background()).Tenancy == nil {
		t.Error("a context without a Config")
	}
}
