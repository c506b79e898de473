package main

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	connectorinformers "github.com/oci-connector/oci-connector/pkg/client/informers/externalversions"
	connectorlisters "github.com/oci-connector/oci-connector/pkg/client/listers/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/events"
)

// worker refreshes Connectors one at a time from a queue that merges
// duplicate keys, so a burst of events for one Connector is one refresh, and
// retries a failed refresh with backoff.
type worker struct {
	refresher  *refresher
	logger     *zap.SugaredLogger
	queue      workqueue.TypedRateLimitingInterface[types.NamespacedName]
	connectors connectorlisters.ConnectorLister
}

func newWorker(r *refresher, logger *zap.SugaredLogger) *worker {
	return &worker{
		refresher: r,
		logger:    logger,
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[types.NamespacedName](
			100*time.Millisecond, time.Minute)),
	}
}

func (w *worker) run(ctx context.Context) {
	go func() {
		<-ctx.Done()
		w.queue.ShutDown()
	}()
	for {
		key, quit := w.queue.Get()
		if quit {
			return
		}
		res, err := w.refresher.refresh(ctx, key)
		if err != nil {
			w.logger.Errorw("Refresh failed; retrying", "connector", key.String(), zap.Error(err))
			w.queue.AddRateLimited(key)
		} else {
			w.queue.Forget(key)
			if res.Written > 0 || res.Removed > 0 {
				w.logger.Infow("Refreshed pull secrets", "connector", key.String(), "written", res.Written, "removed", res.Removed)
			}
			if !res.NextRenewal.IsZero() {
				w.queue.AddAfter(key, max(time.Until(res.NextRenewal), time.Second))
			}
		}
		w.queue.Done(key)
	}
}

// routes serve the CloudEvents this function consumes.
func (w *worker) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /", w.receive)
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) { rw.WriteHeader(http.StatusOK) })
	return mux
}

// receive queues the Connector an event names. Other event types are
// accepted and ignored: on a Broker, a Trigger may send them anyway.
func (w *worker) receive(rw http.ResponseWriter, r *http.Request) {
	e, ok := events.Receive(rw, r)
	if !ok {
		return
	}
	switch e.Type() {
	case events.PullSecretsRefresh, events.CredentialsRotated:
	default:
		rw.WriteHeader(http.StatusAccepted)
		return
	}
	var data struct {
		Connector string `json:"connector"`
		Namespace string `json:"namespace"`
	}
	if err := json.Unmarshal(e.Data(), &data); err != nil || data.Connector == "" || data.Namespace == "" {
		http.Error(rw, "the event names no Connector (data.namespace, data.connector)", http.StatusBadRequest)
		return
	}
	w.queue.Add(types.NamespacedName{Namespace: data.Namespace, Name: data.Connector})
	rw.WriteHeader(http.StatusAccepted)
}

// sweepEvery queues every Connector with pull secrets, and every Connector
// that still has pull secrets (it may be gone), each interval.
func (w *worker) sweepEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		w.sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *worker) sweep(ctx context.Context) {
	w.queueAll()
	secrets, err := w.refresher.kube.CoreV1().Secrets("").List(ctx, metav1.ListOptions{LabelSelector: labelConnectorName})
	if err != nil {
		w.logger.Errorw("Listing pull secrets", zap.Error(err))
		return
	}
	for _, s := range secrets.Items {
		w.queue.Add(types.NamespacedName{Namespace: s.Labels[labelConnectorNamespace], Name: s.Labels[labelConnectorName]})
	}
}

// queueAll queues every Connector that asks for pull secrets.
func (w *worker) queueAll() {
	if w.connectors == nil {
		return
	}
	all, err := w.connectors.List(labels.Everything())
	if err != nil {
		w.logger.Errorw("Listing Connectors", zap.Error(err))
		return
	}
	for _, c := range all {
		if c.Spec.PullSecrets != nil {
			w.queue.Add(types.NamespacedName{Namespace: c.Namespace, Name: c.Name})
		}
	}
}

// watchNewAccounts queues the Connectors with pull secrets whenever a
// ServiceAccount or a Namespace appears, or a Connector changes, so that a
// new ServiceAccount has its pull secret within seconds rather than at the
// next sweep.
func (w *worker) watchNewAccounts(ctx context.Context) error {
	kube := kubeinformers.NewSharedInformerFactory(w.refresher.kube, 0)
	conns := connectorinformers.NewSharedInformerFactory(w.refresher.connectors, 0)
	connectorInformer := conns.Connector().V1alpha1().Connectors()
	w.connectors = connectorInformer.Lister()
	added := cache.ResourceEventHandlerFuncs{AddFunc: func(any) { w.queueAll() }}
	if _, err := kube.Core().V1().ServiceAccounts().Informer().AddEventHandler(added); err != nil {
		return err
	}
	if _, err := kube.Core().V1().Namespaces().Informer().AddEventHandler(added); err != nil {
		return err
	}
	if _, err := connectorInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { w.queueAll() },
		UpdateFunc: func(_, obj any) { w.queueConnector(obj) },
		DeleteFunc: func(obj any) { w.queueConnector(obj) },
	}); err != nil {
		return err
	}
	conns.Start(ctx.Done())
	kube.Start(ctx.Done())
	conns.WaitForCacheSync(ctx.Done())
	kube.WaitForCacheSync(ctx.Done())
	return nil
}

func (w *worker) queueConnector(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if m, ok := obj.(metav1.Object); ok {
		w.queue.Add(types.NamespacedName{Namespace: m.GetNamespace(), Name: m.GetName()})
	}
}
