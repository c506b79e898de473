package main

import (
	"context"

	"go.uber.org/zap"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// registrationServer answers the kubelet's plugin watcher, as the
// node-driver-registrar sidecar would: with --kubelet-registration-dir
// (config/700-csi-driver.yaml sets it) the driver registers itself, and
// the DaemonSet needs no sidecar image.
type registrationServer struct {
	registerapi.UnimplementedRegistrationServer
	// endpoint is the CSI socket as the kubelet sees it.
	endpoint string
	logger   *zap.SugaredLogger
}

func (r *registrationServer) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{
		Type:              registerapi.CSIPlugin,
		Name:              driverName,
		Endpoint:          r.endpoint,
		SupportedVersions: []string{"1.0.0"},
	}, nil
}

func (r *registrationServer) NotifyRegistrationStatus(_ context.Context, s *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if s.PluginRegistered {
		r.logger.Infow("Registered with the kubelet")
	} else {
		r.logger.Errorw("The kubelet refused the registration", "error", s.Error)
	}
	return &registerapi.RegistrationStatusResponse{}, nil
}
