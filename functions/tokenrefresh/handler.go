package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/types"

	"github.com/oci-connector/oci-connector/pkg/events"
)

// refreshTimeout bounds one refresh. It runs detached from the request, so
// that a sender that gives up waiting does not leave it half done.
const refreshTimeout = 2 * time.Minute

// maxConnectorsPerRequest bounds the distinct Connectors one request may
// name: the most the controller's sender puts in one batch.
const maxConnectorsPerRequest = events.MaxSendBatch

// handler serves the events tokenrefresh acts on.
type handler struct {
	callers   *callerAuth
	refresher *refresher
	senders   *events.Senders
	logger    *zap.SugaredLogger
	// refreshes runs one refresh per Connector at a time and collapses
	// repeats (coalesce.go).
	refreshes *coalescer
}

func (h *handler) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /", h.receive)
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) { rw.WriteHeader(http.StatusOK) })
	return mux
}

// receive refreshes the Connectors the pullsecrets.refresh events of a
// request name (one event, or a batch) and answers when it is done: 200, or
// 500 so that the sender retries. Other event types are accepted and
// ignored: on a Broker, a Trigger may send them anyway.
func (h *handler) receive(rw http.ResponseWriter, r *http.Request) {
	if !h.callers.check(rw, r) {
		return
	}
	received, ok := events.ReceiveAll(rw, r)
	if !ok {
		return
	}
	// A batch may name a Connector more than once: it is refreshed once,
	// for the first reason given.
	var keys []types.NamespacedName
	reasons := map[types.NamespacedName]string{}
	for _, e := range received {
		if e.Type() != events.PullSecretsRefresh {
			continue
		}
		var data events.RefreshData
		if err := json.Unmarshal(e.Data(), &data); err != nil || data.Connector == "" || data.Namespace == "" {
			http.Error(rw, "the event "+e.ID()+" names no Connector (data.namespace, data.connector)", http.StatusBadRequest)
			return
		}
		key := types.NamespacedName{Namespace: data.Namespace, Name: data.Connector}
		if _, seen := reasons[key]; !seen {
			keys = append(keys, key)
			reasons[key] = data.Reason
		}
		if len(keys) > maxConnectorsPerRequest {
			http.Error(rw, fmt.Sprintf("a request may name at most %d Connectors", maxConnectorsPerRequest), http.StatusRequestEntityTooLarge)
			return
		}
	}
	if len(keys) == 0 {
		rw.WriteHeader(http.StatusAccepted)
		return
	}
	for _, key := range keys {
		res, err := h.refreshes.do(r.Context(), key, h.refreshOne)
		if err != nil {
			h.logger.Errorw("Refresh failed", "connector", key.String(), "reason", reasons[key], zap.Error(err))
			http.Error(rw, "refreshing the pull secrets of "+key.String()+": "+err.Error(), http.StatusInternalServerError)
			return
		}
		if res.Written > 0 || res.Removed > 0 {
			h.logger.Infow("Refreshed pull secrets", "connector", key.String(), "reason", reasons[key], "written", res.Written, "removed", res.Removed)
			h.recordRotation(key, reasons[key], res)
		}
	}
	rw.WriteHeader(http.StatusOK)
}

// refreshOne refreshes key within refreshTimeout, whoever waits for it.
func (h *handler) refreshOne(key types.NamespacedName) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
	defer cancel()
	return h.refresher.refresh(ctx, key)
}

// recordRotation tells the Connector's sink what the refresh did.
func (h *handler) recordRotation(key types.NamespacedName, reason string, res result) {
	e, err := events.New(events.PullSecretsRotated, key.Namespace, key.Name, "", events.RotatedData{
		Connector: key.Name, Namespace: key.Namespace, Reason: reason,
		Written: res.Written, Removed: res.Removed, ServiceAccounts: res.ServiceAccounts,
	})
	if err != nil {
		h.logger.Errorw("Cannot build an event", zap.Error(err))
		return
	}
	h.senders.Send(res.Sink, e)
}
