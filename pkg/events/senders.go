package events

import (
	"context"
	"sync"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.uber.org/zap"
)

// Senders keeps one Sender per sink, made on first use and kept until the
// context given to NewSenders ends: the controller and tokenrefresh send to
// sinks that each Connector names.
type Senders struct {
	ctx    context.Context
	opts   SenderOptions
	logger *zap.SugaredLogger
	mu     sync.Mutex
	bySink map[string]*Sender
}

// NewSenders makes an empty set whose Senders live as long as ctx, made
// with opts.
func NewSenders(ctx context.Context, opts SenderOptions) *Senders {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop().Sugar()
	}
	return &Senders{ctx: ctx, opts: opts, logger: opts.Logger, bySink: map[string]*Sender{}}
}

// Send queues e for sink; nothing happens without a sink. It logs rather
// than returns a failure: events never hold up the work they describe.
func (s *Senders) Send(sink string, e cloudevents.Event) {
	if s == nil || sink == "" {
		return
	}
	sender, err := s.senderFor(sink)
	if err != nil {
		s.logger.Errorw("Cannot send events", "sink", sink, zap.Error(err))
		return
	}
	if !sender.Send(e) {
		s.logger.Warnw("Event queue full; event dropped", "type", e.Type(), "sink", sink)
	}
}

func (s *Senders) senderFor(sink string) (*Sender, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sender, ok := s.bySink[sink]; ok {
		return sender, nil
	}
	sender, err := NewSender(s.ctx, sink, s.opts)
	if err != nil {
		return nil, err
	}
	s.bySink[sink] = sender
	return sender, nil
}
