package main

import (
	"os"
	"testing"

	kubeletconfigv1 "k8s.io/kubelet/config/v1"
	"sigs.k8s.io/yaml"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
)

// The shipped CredentialProviderConfig reads strictly as the kubelet's
// type, with what this plugin needs: token-keyed caching (its password is
// the token), a required ServiceAccount, and the node audience first.
func TestTheExampleConfigIsTheKubelets(t *testing.T) {
	raw, err := os.ReadFile("../../config/examples/node/credential-provider-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg kubeletconfigv1.CredentialProviderConfig
	if err := yaml.UnmarshalStrict(raw, &cfg); err != nil {
		t.Fatalf("the kubelet's type does not read the example: %v", err)
	}
	if cfg.APIVersion != "kubelet.config.k8s.io/v1" || cfg.Kind != "CredentialProviderConfig" || len(cfg.Providers) != 2 {
		t.Fatalf("example: %+v", cfg)
	}
	for i, p := range cfg.Providers {
		ta := p.TokenAttributes
		if p.APIVersion != apiVersion || ta == nil || ta.CacheType != kubeletconfigv1.TokenServiceAccountTokenCacheType ||
			ta.RequireServiceAccount == nil || !*ta.RequireServiceAccount || len(p.MatchImages) == 0 {
			t.Errorf("provider %s: %+v", p.Name, p)
		}
		if i == 0 && ta.ServiceAccountTokenAudience != v1alpha1.NodeAudience {
			t.Errorf("the first provider's audience %q, want the node audience", ta.ServiceAccountTokenAudience)
		}
	}
}
