package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/types"

	"github.com/oci-connector/oci-connector/pkg/clientconfig"
)

// kubeletContext is what the kubelet adds to every volume's attributes.
func kubeletContext(attrs map[string]string) map[string]string {
	out := map[string]string{
		ctxPodNamespace: "team-a", ctxPodName: "build-1", ctxPodUID: "uid-1",
		ctxServiceAccount: "builder", ctxEphemeral: "true",
		ctxTokens: `{"oci-connector.dev/csi":{"token":"T","expirationTimestamp":"2026-12-01T20:00:00Z"}}`,
	}
	for k, v := range attrs {
		out[k] = v
	}
	return out
}

// The seed's Job names things its own way; each naming reads the same.
func TestAttributeNamings(t *testing.T) {
	harbor := types.NamespacedName{Namespace: "team-a", Name: "harbor"}
	platform := types.NamespacedName{Namespace: "platform", Name: "harbor"}
	cases := map[string]struct {
		attrs     map[string]string
		connector types.NamespacedName
		configs   []clientconfig.Configuration
	}{
		"ours, a bare name": {map[string]string{"connector": "harbor", "configurations": "docker-config, buildkitd"}, harbor, []clientconfig.Configuration{"docker-config", "buildkitd"}},
		"ours, namespaced":  {map[string]string{"connector": "platform/harbor", "configurations": "containerd-hosts"}, platform, []clientconfig.Configuration{"containerd-hosts"}},
		"seed 002":          {map[string]string{"connector.name": "harbor", "configuration.names": "docker-config"}, harbor, []clientconfig.Configuration{"docker-config"}},
		"seed, namespace":   {map[string]string{"connector.name": "harbor", "connector.namespace": "platform", "configuration.names": "buildkitd"}, platform, []clientconfig.Configuration{"buildkitd"}},
		"seed, connectors":  {map[string]string{"connectors": "platform/harbor", "configuration.names": "registry-config"}, platform, []clientconfig.Configuration{"docker-config"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			v, err := parseVolumeContext(kubeletContext(tc.attrs))
			if err != nil {
				t.Fatal(err)
			}
			if v.Connector != tc.connector {
				t.Errorf("connector %v, want %v", v.Connector, tc.connector)
			}
			if diff := cmp.Diff(tc.configs, v.Configurations); diff != "" {
				t.Errorf("configurations (-want +got):\n%s", diff)
			}
			want := podInfo{Namespace: "team-a", Name: "build-1", UID: "uid-1", ServiceAccount: "builder"}
			if v.Pod != want || v.KubeletTokens["oci-connector.dev/csi"].Token != "T" {
				t.Errorf("pod %+v, tokens %v", v.Pod, v.KubeletTokens)
			}
		})
	}
}

// Each refusal says what to fix in the pod's volume.
func TestAttributeRefusals(t *testing.T) {
	noPodInfo := kubeletContext(map[string]string{"connector": "harbor", "configurations": "buildkitd"})
	delete(noPodInfo, ctxPodUID)
	persistent := kubeletContext(map[string]string{"connector": "harbor", "configurations": "buildkitd"})
	delete(persistent, ctxEphemeral)
	cases := map[string]struct {
		attrs map[string]string
		want  string
	}{
		"no pod info":           {noPodInfo, "podInfoOnMount: true"},
		"not ephemeral":         {persistent, "only inline ephemeral volumes"},
		"no connector":          {kubeletContext(map[string]string{"configurations": "buildkitd"}), "volumeAttributes.connector is required"},
		"two connectors":        {kubeletContext(map[string]string{"connectors": "a/b,c/d", "configurations": "buildkitd"}), "one Connector per volume"},
		"empty name":            {kubeletContext(map[string]string{"connector": "platform/", "configurations": "buildkitd"}), "is not <namespace>/<name>"},
		"no configuration":      {kubeletContext(map[string]string{"connector": "harbor"}), "volumeAttributes.configurations is required"},
		"unknown configuration": {kubeletContext(map[string]string{"connector": "harbor", "configurations": "docker-config,kaniko"}), `unknown configuration "kaniko"; known: buildkitd, containerd-hosts, containers-auth, docker-config, registries-conf`},
		"relative mount path":   {kubeletContext(map[string]string{"connector": "harbor", "configurations": "buildkitd", "mountPath": "etc/buildkit"}), "is not an absolute path"},
		"tokens not JSON":       {kubeletContext(map[string]string{"connector": "harbor", "configurations": "buildkitd", ctxTokens: "{"}), "is not JSON"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := parseVolumeContext(tc.attrs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// The kubelet's tokens are read from the request's secrets when it passes
// them there (serviceAccountTokenInSecrets), and from the volume context
// otherwise.
func TestTokensFromSecretsOrContext(t *testing.T) {
	ctx := map[string]string{"k": "v"}
	if got := withSecretTokens(ctx, nil); got[ctxTokens] != "" || got["k"] != "v" {
		t.Errorf("without secrets: %v", got)
	}
	got := withSecretTokens(ctx, map[string]string{ctxTokens: `{"a":{"token":"T"}}`})
	if got[ctxTokens] != `{"a":{"token":"T"}}` || got["k"] != "v" {
		t.Errorf("with secrets: %v", got)
	}
	if _, leaked := ctx[ctxTokens]; leaked {
		t.Error("the kubelet's context map was changed")
	}
}
