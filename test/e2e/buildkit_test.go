package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/registry"
)

// seedDockerfile is seed 002's Dockerfile.
const seedDockerfile = `FROM scratch
LABEL maintainer="example@example.com"
WORKDIR /app
ENV APP_VERSION="1.0.0"
`

// Seed 002: buildkit v0.18.2 builds and pushes through the proxy with its
// client configuration mounted from two CSI volumes, named exactly as the
// seed's Job names them (connector.name, configuration.names). The build
// sees no registry password: only a token of its pod's ServiceAccount.
func TestBuildkitBuildsAndPushesWithCSIVolumes(t *testing.T) {
	buildkitd, buildctl := harness.Bin(t, "buildkitd"), harness.Bin(t, "buildctl")
	if _, err := exec.LookPath("runc"); err != nil {
		t.Fatal("runc is not installed; .ci/run installs it")
	}
	s := setupCSI(t, "csi-build")
	pod := scheduledPod(t, s.ns, "buildkit-build-1", "builder", s.csi.name)
	dockerConfig, err := s.csi.publish(t, kubeletVolume{pod: pod, attrs: map[string]string{"connector.name": "harbor", "configuration.names": "docker-config"}})
	if err != nil {
		t.Fatalf("the docker-config volume: %v", err)
	}
	buildkitdConfig, err := s.csi.publish(t, kubeletVolume{pod: pod, attrs: map[string]string{"connector.name": "harbor", "configuration.names": "buildkitd"}})
	if err != nil {
		t.Fatalf("the buildkitd volume: %v", err)
	}

	// buildkitd as buildctl-daemonless.sh starts it, with the seed's
	// BUILDKITD_FLAGS; the native snapshotter, as overlayfs may be
	// unavailable where the tests run.
	dir := t.TempDir()
	socket := "unix://" + filepath.Join(dir, "buildkitd.sock")
	harness.StartProcess(t, buildkitd, []string{
		"--config", filepath.Join(buildkitdConfig, "buildkitd.toml"),
		"--root", filepath.Join(dir, "root"), "--addr", socket,
		"--oci-worker-snapshotter=native", "--containerd-worker=false",
	}, nil)
	waitFor(t, "buildkitd", func(ctx context.Context) (bool, string) {
		out, err := exec.CommandContext(ctx, buildctl, "--addr", socket, "debug", "workers").CombinedOutput()
		return err == nil, string(out)
	})

	workspace := filepath.Join(dir, "workspace")
	if err := os.MkdirAll(workspace, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(workspace, "Dockerfile"), []byte(seedDockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	image := s.proxy.Host + "/test/test-cjt:v1"
	runTool(t, []string{"DOCKER_CONFIG=" + dockerConfig}, buildctl, "--addr", socket,
		"build", "--progress=plain", "--frontend=dockerfile.v0", "--opt", "filename=Dockerfile",
		"--local", "context="+workspace, "--local", "dockerfile="+workspace,
		"--output", "type=image,name="+image+",push=true", "--export-cache", "type=inline")

	// The image is in the upstream registry, read with the registry's own
	// credentials, not through the proxy.
	ref, err := name.ParseReference(s.reg.Host+"/test/test-cjt:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref, remote.WithAuth(&authn.Basic{Username: registry.Username, Password: registry.Password}))
	if err != nil {
		t.Fatalf("the pushed image is not upstream: %v", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.Labels["maintainer"] != "example@example.com" || cfg.Config.WorkingDir != "/app" {
		t.Errorf("the pushed image is not the seed's build: %+v", cfg.Config)
	}
}
