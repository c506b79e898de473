package connector

import (
	"context"

	"go.uber.org/zap"
	"knative.dev/pkg/logging"

	"github.com/oci-connector/oci-connector/pkg/events"
)

// emit sends an event of typ about the Connector namespace/name to each
// sink given; an empty sink is skipped.
func (r *Reconciler) emit(ctx context.Context, namespace, name, typ string, data any, sinks ...string) {
	e, err := events.New(typ, namespace, name, "", data)
	if err != nil {
		logging.FromContext(ctx).Errorw("Cannot build an event", "type", typ, zap.Error(err))
		return
	}
	for _, sink := range sinks {
		r.senders.Send(sink, e)
	}
}
