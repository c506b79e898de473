package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	clocktesting "k8s.io/utils/clock/testing"
)

// allowAll vouches for every pod.
type allowAll struct{}

func (allowAll) vouch(context.Context, volumeRequest) error { return nil }

// countingMinter renders "token-N" on its Nth call, with a token that
// lives ttl from the clock's now, or refuses while refuse is set.
type countingMinter struct {
	clock  *clocktesting.FakeClock
	ttl    time.Duration
	calls  int
	refuse error
}

func (m *countingMinter) render(context.Context, volumeRequest) (*rendered, error) {
	m.calls++
	if m.refuse != nil {
		return nil, m.refuse
	}
	now := m.clock.Now()
	return &rendered{
		files:   map[string][]byte{"config.json": []byte(fmt.Sprintf("token-%d", m.calls))},
		expires: now.Add(m.ttl),
		renewAt: now.Add(time.Duration(float64(m.ttl) * renewAtFraction)),
	}, nil
}

// The kubelet republishes every sync: the files are rendered again only
// once the token is past 80% of its life, and a republish that is refused
// empties the volume.
func TestRepublishRendersAgainAtEightyPercent(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts a tmpfs, as the driver does on a node: run it as root")
	}
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	minter := &countingMinter{clock: clk, ttl: time.Hour}
	dir := t.TempDir()
	n := &nodeServer{
		nodeName: "node-a", stateDir: filepath.Join(dir, "state"),
		voucher: allowAll{}, minter: minter, clock: clk, logger: zap.NewNop().Sugar(),
		published: map[string]*publishedVolume{},
	}
	target := filepath.Join(dir, "pods", "uid", "mount")
	req := &csi.NodePublishVolumeRequest{
		VolumeId: "csi-1", TargetPath: target,
		VolumeCapability: &csi.VolumeCapability{AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}}},
		VolumeContext:    kubeletContext(map[string]string{"connector": "harbor", "configurations": "docker-config"}),
	}
	t.Cleanup(func() {
		if _, err := n.NodeUnpublishVolume(context.Background(), &csi.NodeUnpublishVolumeRequest{VolumeId: "csi-1", TargetPath: target}); err != nil {
			t.Error(err)
		}
	})
	publish := func() error {
		_, err := n.NodePublishVolume(context.Background(), req)
		return err
	}
	content := func() string {
		b, err := os.ReadFile(filepath.Join(target, "config.json"))
		if errors.Is(err, os.ErrNotExist) {
			return "(none)"
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	if err := publish(); err != nil {
		t.Fatal(err)
	}
	clk.Step(47 * time.Minute) // 78% of the hour
	if err := publish(); err != nil {
		t.Fatal(err)
	}
	if minter.calls != 1 || content() != "token-1" {
		t.Errorf("before 80%%: %d renderings, file %q", minter.calls, content())
	}
	clk.Step(2 * time.Minute) // 82%
	if err := publish(); err != nil {
		t.Fatal(err)
	}
	if minter.calls != 2 || content() != "token-2" {
		t.Errorf("after 80%%: %d renderings, file %q", minter.calls, content())
	}

	clk.Step(50 * time.Minute)
	minter.refuse = refusef(codes.PermissionDenied, "revoked")
	if err := publish(); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a refused republish: %v", err)
	}
	if got := content(); got != "(none)" {
		t.Errorf("a refused republish left %q", got)
	}
}
