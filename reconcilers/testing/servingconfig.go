package testing

import (
	"context"
	"fmt"

	servingconfig "knative.dev/serving/pkg/apis/config"

	"github.com/oci-connector/oci-connector/reconcilers/connector/resources"
)

// ServingInstallContext carries Knative Serving's configuration as the README
// asks an install to set it: max-revision-timeout-seconds raised to fit the
// proxy's hour-long request timeout. Knative's validation of the proxy
// Service runs with it in the tests.
func ServingInstallContext(ctx context.Context) context.Context {
	defaults, err := servingconfig.NewDefaultsConfigFromMap(map[string]string{
		"max-revision-timeout-seconds": fmt.Sprint(resources.DefaultTimeoutSeconds),
	})
	if err != nil {
		panic(fmt.Sprintf("Knative defaults from constants: %v", err))
	}
	return servingconfig.ToContext(ctx, &servingconfig.Config{Defaults: defaults})
}
