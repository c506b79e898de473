// Package controlplane runs oci-connector's controller in the test process,
// wired by Knative injection to a real API server, as sharedmain would in a pod.
package controlplane

import (
	"context"
	"os"
	"time"

	"go.uber.org/zap"
	"k8s.io/client-go/rest"
	kubeclient "knative.dev/pkg/client/injection/kube/client"
	cminformer "knative.dev/pkg/configmap/informer"
	"knative.dev/pkg/controller"
	"knative.dev/pkg/injection"
	"knative.dev/pkg/logging"
	"knative.dev/pkg/system"

	connectorapi "github.com/oci-connector/oci-connector/pkg/apis/connector"
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

func (o Options) withDefaults(t harness.T) Options {
	t.Helper()
	if o.Checker == nil {
		o.Checker = upstream.RegistryChecker{}
	}
	if o.Settings == (connector.Settings{}) {
		s, err := connector.SettingsFromEnv(connectorapi.SystemNamespace)
		if err != nil {
			t.Fatalf("controller settings: %v", err)
		}
		o.Settings = s
	}
	if o.Logger == nil {
		zl, err := zap.NewProduction(zap.IncreaseLevel(zap.WarnLevel))
		if err != nil {
			t.Fatalf("logger: %v", err)
		}
		o.Logger = zl.Sugar()
	}
	return o
}

// context is a fresh context carrying the logger. It also sets what the
// Deployment's env sets in a pod: the namespace oci-connector runs in, which
// injection's namespaced informers read.
func (o Options) context() context.Context {
	os.Setenv(system.NamespaceEnvKey, connectorapi.SystemNamespace)
	return logging.WithLogger(context.Background(), o.Logger)
}

// Start runs the Connector controller against cfg until t's cleanup.
func Start(t harness.T, cfg *rest.Config, opts Options) {
	t.Helper()
	opts = opts.withDefaults(t)
	ctx, cancel := context.WithCancel(opts.context())
	ctx, startInformers := injection.EnableInjectionOrDie(ctx, rest.CopyConfig(cfg))
	// As sharedmain's: config-oci-connector is followed live.
	cmw := cminformer.NewInformedWatcher(kubeclient.Get(ctx), connectorapi.SystemNamespace)
	impl := connector.NewControllerWith(ctx, cmw, opts.Checker, opts.Settings)
	waitForInformers(t, cancel, startInformers)
	if err := cmw.Start(ctx.Done()); err != nil {
		cancel()
		t.Fatalf("watching the ConfigMaps: %v", err)
	}
	stopped := runControllers(ctx, opts.Logger, impl)
	t.Cleanup(func() {
		cancel()
		stopped()
	})
}

// waitForInformers starts the informers and waits for them to sync. Those
// that may not list (RBAC) never sync and would block forever, so the wait
// is bounded.
func waitForInformers(t harness.T, cancel context.CancelFunc, start func()) {
	t.Helper()
	synced := make(chan struct{})
	go func() {
		start()
		close(synced)
	}()
	select {
	case <-synced:
	case <-time.After(informerSyncTimeout):
		cancel()
		t.Fatalf("the controller's informers did not sync within %s: can its identity list and watch what it needs?", informerSyncTimeout)
	}
}

// runControllers runs impls until ctx ends; the returned function waits for
// them to stop, for a while.
func runControllers(ctx context.Context, logger *zap.SugaredLogger, impls ...*controller.Impl) (waitStopped func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := controller.StartAll(ctx, impls...); err != nil {
			logger.Errorw("Controller stopped", zap.Error(err))
		}
	}()
	return func() {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			logger.Warn("the controllers did not stop within 10s")
		}
	}
}
