// Package controlplane runs oci-connector's controller in the test process,
// wired by Knative injection to a real API server, as sharedmain would in a pod.
package controlplane

import (
	"context"
	"time"

	"go.uber.org/zap"
	"k8s.io/client-go/rest"
	"knative.dev/pkg/configmap"
	"knative.dev/pkg/controller"
	"knative.dev/pkg/injection"
	"knative.dev/pkg/logging"

	"github.com/oci-connector/oci-connector/reconcilers/connector"
	"github.com/oci-connector/oci-connector/reconcilers/connector/upstream"
	"github.com/oci-connector/oci-connector/test/harness"
)

const informerSyncTimeout = 30 * time.Second

// Options configure the in-process controller.
type Options struct {
	// Checker checks upstreams; the real regclient checker by default.
	Checker upstream.Checker
	// Settings are the controller's settings; connector.SettingsFromEnv's defaults when zero.
	Settings connector.Settings
	// Logger receives the controller's logs; a production zap logger at
	// warn level by default, to keep test output short.
	Logger *zap.SugaredLogger
}

// Start runs the Connector controller against cfg until t's cleanup.
func Start(t harness.T, cfg *rest.Config, opts Options) {
	t.Helper()
	if opts.Checker == nil {
		opts.Checker = upstream.RegclientChecker{}
	}
	if opts.Settings == (connector.Settings{}) {
		s, err := connector.SettingsFromEnv()
		if err != nil {
			t.Fatalf("controller settings: %v", err)
		}
		opts.Settings = s
	}
	if opts.Logger == nil {
		zl, err := zap.NewProduction(zap.IncreaseLevel(zap.WarnLevel))
		if err != nil {
			t.Fatalf("logger: %v", err)
		}
		opts.Logger = zl.Sugar()
	}

	ctx, cancel := context.WithCancel(logging.WithLogger(context.Background(), opts.Logger))
	ctx, startInformers := injection.EnableInjectionOrDie(ctx, rest.CopyConfig(cfg))
	impl := connector.NewControllerWith(ctx, configmap.NewStaticWatcher(), opts.Checker, opts.Settings)

	// Informers that may not list (RBAC) never sync and would block forever.
	synced := make(chan struct{})
	go func() {
		startInformers()
		close(synced)
	}()
	select {
	case <-synced:
	case <-time.After(informerSyncTimeout):
		cancel()
		t.Fatalf("the controller's informers did not sync within %s: can its identity list and watch what it needs?", informerSyncTimeout)
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := controller.StartAll(ctx, impl); err != nil {
			opts.Logger.Errorw("Controller stopped", zap.Error(err))
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Logf("the controller did not stop within 10s")
		}
	})
}
