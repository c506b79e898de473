package connector

import (
	"context"
	"sync"

	"go.uber.org/zap"
	"knative.dev/pkg/logging"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
	"github.com/oci-connector/oci-connector/pkg/events"
)

// cloudEvents sends the controller's CloudEvents, through one non-blocking
// Sender per sink, made on first use and kept for the controller's life.
type cloudEvents struct {
	ctx     context.Context
	mu      sync.Mutex
	senders map[string]*events.Sender
}

func newCloudEvents(ctx context.Context) *cloudEvents {
	return &cloudEvents{ctx: ctx, senders: map[string]*events.Sender{}}
}

// send emits an event of typ about c to sink; nothing without a sink.
func (ce *cloudEvents) send(ctx context.Context, sink string, c *v1alpha1.Connector, typ string, data any) {
	if ce == nil || sink == "" {
		return
	}
	logger := logging.FromContext(ctx)
	e, err := events.New(typ, c.Namespace, c.Name, "", data)
	if err != nil {
		logger.Errorw("Cannot build an event", "type", typ, zap.Error(err))
		return
	}
	sender, err := ce.senderFor(sink)
	if err != nil {
		logger.Errorw("Cannot send events", "sink", sink, zap.Error(err))
		return
	}
	if !sender.Send(e) {
		logger.Warnw("Event queue full; event dropped", "type", typ, "sink", sink)
	}
}

func (ce *cloudEvents) senderFor(sink string) (*events.Sender, error) {
	ce.mu.Lock()
	defer ce.mu.Unlock()
	if s, ok := ce.senders[sink]; ok {
		return s, nil
	}
	s, err := events.NewSender(ce.ctx, sink, events.SenderOptions{Logger: logging.FromContext(ce.ctx)})
	if err != nil {
		return nil, err
	}
	ce.senders[sink] = s
	return s, nil
}
