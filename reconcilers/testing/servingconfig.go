package testing

import (
	"context"
	"fmt"

	servingconfig "knative.dev/serving/pkg/apis/config"

	"github.com/oci-connector/oci-connector/reconcilers/connector/resources"
)

// InstallFeatures are the Knative features the README asks an install to
// enable (config-features): the audit function keeps its trail on a
// PersistentVolumeClaim it writes, as the group its pod's fsGroup names.
var InstallFeatures = map[string]string{
	"kubernetes.podspec-persistent-volume-claim": "enabled",
	"kubernetes.podspec-persistent-volume-write": "enabled",
	"kubernetes.podspec-securitycontext":         "enabled",
}

// ServingInstallContext carries Knative Serving's configuration as the README
// asks an install to set it: max-revision-timeout-seconds raised to fit the
// proxy's hour-long request timeout, and InstallFeatures. Knative's
// validation of the install's Services runs with it in the tests.
func ServingInstallContext(ctx context.Context) context.Context {
	defaults, err := servingconfig.NewDefaultsConfigFromMap(map[string]string{
		"max-revision-timeout-seconds": fmt.Sprint(resources.DefaultTimeoutSeconds),
	})
	if err != nil {
		panic(fmt.Sprintf("Knative defaults from constants: %v", err))
	}
	features, err := servingconfig.NewFeaturesConfigFromMap(InstallFeatures)
	if err != nil {
		panic(fmt.Sprintf("Knative features from constants: %v", err))
	}
	return servingconfig.ToContext(ctx, &servingconfig.Config{Defaults: defaults, Features: features})
}

// KnativeConfigContext carries Knative Serving's configuration with the data
// of its config-defaults ConfigMap (nil: an install that left it alone) and
// default features, as Knative's webhook validates with.
func KnativeConfigContext(ctx context.Context, configDefaults map[string]string) (context.Context, error) {
	defaults, err := servingconfig.NewDefaultsConfigFromMap(configDefaults)
	if err != nil {
		return nil, fmt.Errorf("config-defaults %v: %w", configDefaults, err)
	}
	features, err := servingconfig.NewFeaturesConfigFromMap(nil)
	if err != nil {
		return nil, fmt.Errorf("default features: %w", err)
	}
	return servingconfig.ToContext(ctx, &servingconfig.Config{Defaults: defaults, Features: features}), nil
}
