package main

import (
	"context"
	"runtime/debug"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/oci-connector/oci-connector/pkg/apis/connector"
)

const driverName = connector.CSIDriverName

// vendorVersion is what the driver reports of itself: the module's version
// and the commit it was built from, as the Go toolchain (and ko, which
// calls it) recorded them in the binary.
var vendorVersion = buildVersion(debug.ReadBuildInfo())

// buildVersion is the main module's version when it is a release, else
// "devel"; with "+" and the first 12 digits of the VCS revision when known.
func buildVersion(info *debug.BuildInfo, ok bool) string {
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && s.Value != "" {
			return v + "+" + s.Value[:min(12, len(s.Value))]
		}
	}
	return v
}

// identityServer is the CSI Identity service. The driver has no Controller
// service: its volumes are inline and ephemeral.
type identityServer struct {
	csi.UnimplementedIdentityServer
}

func (identityServer) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: driverName, VendorVersion: vendorVersion}, nil
}

func (identityServer) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	return &csi.GetPluginCapabilitiesResponse{}, nil
}

func (identityServer) Probe(context.Context, *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	return &csi.ProbeResponse{Ready: wrapperspb.Bool(true)}, nil
}
