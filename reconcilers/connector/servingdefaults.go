package connector

import (
	"context"
	"fmt"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	cminformer "knative.dev/pkg/configmap/informer"
	"knative.dev/pkg/logging"
	servingconfig "knative.dev/serving/pkg/apis/config"
)

// servingDefaults follows Knative Serving's config-defaults ConfigMap, whose
// max-revision-timeout-seconds caps the request timeout a revision may ask
// for: Knative's webhook refuses a proxy Service above it.
type servingDefaults struct {
	maxTimeoutSeconds atomic.Int64
}

func newServingDefaults(maxTimeoutSeconds int64) *servingDefaults {
	d := &servingDefaults{}
	d.maxTimeoutSeconds.Store(maxTimeoutSeconds)
	return d
}

// watchServingDefaults starts following config-defaults in namespace and
// returns once it has been read (Knative's own defaults when it is absent).
// changed runs after every later change.
func watchServingDefaults(ctx context.Context, kube kubernetes.Interface, namespace string, changed func()) (*servingDefaults, error) {
	d := newServingDefaults(servingconfig.DefaultMaxRevisionTimeoutSeconds)
	w := cminformer.NewInformedWatcher(kube, namespace)
	w.WatchWithDefault(corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: servingconfig.DefaultsConfigName, Namespace: namespace}},
		func(cm *corev1.ConfigMap) {
			cfg, err := servingconfig.NewDefaultsConfigFromConfigMap(cm)
			if err != nil {
				// Knative itself refuses this ConfigMap; keep what was last good.
				logging.FromContext(ctx).Errorw("Knative's config-defaults does not parse; keeping the last good maximum",
					"namespace", namespace, "error", err)
				return
			}
			if d.maxTimeoutSeconds.Swap(cfg.MaxRevisionTimeoutSeconds) != cfg.MaxRevisionTimeoutSeconds && changed != nil {
				changed()
			}
		})
	if err := w.Start(ctx.Done()); err != nil {
		return nil, fmt.Errorf("reading Knative's %s/%s: %w", namespace, servingconfig.DefaultsConfigName, err)
	}
	return d, nil
}

// requestTimeout is the most of want that Knative allows.
func (d *servingDefaults) requestTimeout(want int64) int64 {
	return min(want, d.maxTimeoutSeconds.Load())
}
