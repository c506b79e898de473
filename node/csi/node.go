package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/utils/clock"
)

// nodeServer is the CSI Node service: thin. It checks the request, asks
// the voucher and the minter, and puts the files in place.
type nodeServer struct {
	csi.UnimplementedNodeServer

	nodeName string
	stateDir string
	voucher  interface {
		vouch(context.Context, volumeRequest) error
	}
	minter interface {
		render(context.Context, volumeRequest) (*rendered, error)
	}
	clock  clock.PassiveClock
	logger *zap.SugaredLogger

	// mu guards published; a publish and an unpublish of one target path
	// never run at once, since both hold mu while they change it.
	mu        sync.Mutex
	published map[string]*publishedVolume
}

// publishedVolume is what the driver remembers of a volume between the
// kubelet's calls. A restart forgets it; the next republish renders again.
type publishedVolume struct {
	volumeID string
	renewAt  time.Time
}

// NodeGetCapabilities offers VOLUME_MOUNT_GROUP: the kubelet then passes a
// pod's fsGroup, and the files are readable by that group only.
func (n *nodeServer) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	return &csi.NodeGetCapabilitiesResponse{Capabilities: []*csi.NodeServiceCapability{{
		Type: &csi.NodeServiceCapability_Rpc{Rpc: &csi.NodeServiceCapability_RPC{Type: csi.NodeServiceCapability_RPC_VOLUME_MOUNT_GROUP}},
	}}}, nil
}

func (n *nodeServer) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	return &csi.NodeGetInfoResponse{NodeId: n.nodeName}, nil
}

// NodePublishVolume renders a volume's files, or renders them again when
// the kubelet republishes (requiresRepublish) and the token is past
// renewAtFraction of its life. A republish that is refused (the RBAC was
// revoked, the Connector went away) empties the volume.
func (n *nodeServer) NodePublishVolume(ctx context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	switch {
	case req.GetVolumeId() == "":
		return nil, status.Error(codes.InvalidArgument, "volume_id is required")
	case req.GetTargetPath() == "":
		return nil, status.Error(codes.InvalidArgument, "target_path is required")
	case req.GetVolumeCapability() == nil:
		return nil, status.Error(codes.InvalidArgument, "volume_capability is required")
	case req.GetVolumeCapability().GetMount() == nil:
		return nil, status.Error(codes.InvalidArgument, "only filesystem volumes are served, not block")
	}
	v, err := parseVolumeContext(withSecretTokens(req.GetVolumeContext(), req.GetSecrets()))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	own, err := ownershipFor(req.GetVolumeCapability().GetMount().GetVolumeMountGroup())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	target, staging := req.GetTargetPath(), n.stagingDir(req.GetVolumeId())

	n.mu.Lock()
	defer n.mu.Unlock()
	prev := n.published[target]
	if prev != nil && prev.volumeID == req.GetVolumeId() && n.clock.Now().Before(prev.renewAt) {
		return &csi.NodePublishVolumeResponse{}, nil
	}
	r, err := n.renderFor(ctx, v)
	if err != nil {
		n.logger.Warnw("Refused a volume", "pod", v.Pod.Namespace+"/"+v.Pod.Name, "connector", v.Connector.String(), "error", err)
		if prev != nil {
			if werr := writeFiles(staging, nil, own); werr != nil {
				n.logger.Errorw("Could not empty a refused volume", "target", target, "error", werr)
			}
		}
		return nil, grpcError(err)
	}
	if err := mountVolume(staging, target); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	if err := own.apply(staging, true); err != nil {
		return nil, status.Error(codes.Internal, fmt.Sprintf("setting the volume's owner: %v", err))
	}
	if err := writeFiles(staging, r.files, own); err != nil {
		if prev == nil {
			_ = unmountVolume(staging, target)
		}
		return nil, status.Error(codes.Internal, err.Error())
	}
	n.published[target] = &publishedVolume{volumeID: req.GetVolumeId(), renewAt: r.renewAt}
	n.logger.Infow("Published a volume", "pod", v.Pod.Namespace+"/"+v.Pod.Name, "connector", v.Connector.String(),
		"configurations", v.Configurations, "tokenExpires", r.expires, "renewAt", r.renewAt, "republish", prev != nil)
	return &csi.NodePublishVolumeResponse{}, nil
}

func (n *nodeServer) renderFor(ctx context.Context, v volumeRequest) (*rendered, error) {
	if err := n.voucher.vouch(ctx, v); err != nil {
		return nil, err
	}
	return n.minter.render(ctx, v)
}

// NodeUnpublishVolume removes the files, both mounts and the target path;
// a volume already gone is fine.
func (n *nodeServer) NodeUnpublishVolume(_ context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	switch {
	case req.GetVolumeId() == "":
		return nil, status.Error(codes.InvalidArgument, "volume_id is required")
	case req.GetTargetPath() == "":
		return nil, status.Error(codes.InvalidArgument, "target_path is required")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := unmountVolume(n.stagingDir(req.GetVolumeId()), req.GetTargetPath()); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	delete(n.published, req.GetTargetPath())
	return &csi.NodeUnpublishVolumeResponse{}, nil
}

// stagingDir is the driver's own mount for a volume; the ID is hashed, so
// no ID can name a path outside the state directory.
func (n *nodeServer) stagingDir(volumeID string) string {
	sum := sha256.Sum256([]byte(volumeID))
	return filepath.Join(n.stateDir, "volumes", hex.EncodeToString(sum[:16]))
}
