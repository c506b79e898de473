package events

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
)

// Defaults of a Sender.
const (
	DefaultQueueSize  = 10000
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 10 * time.Second
	attemptTimeout    = 5 * time.Second
	// MaxSendBatch bounds the events of one batch delivery.
	MaxSendBatch = 500
	// batchLinger is how long an event waits for others to go with it. A
	// request per event costs the sink (and, on a shared node, the pulls)
	// more than a delay of a tenth of a second costs an audit trail.
	batchLinger = 100 * time.Millisecond
)

// SenderOptions tune a Sender; zero values take the defaults.
type SenderOptions struct {
	// QueueSize is how many events wait while the sink is slow or down.
	QueueSize int
	// MinBackoff and MaxBackoff bound the wait between delivery attempts.
	MinBackoff, MaxBackoff time.Duration
	// MeterProvider receives the sent, failed and dropped counters.
	MeterProvider metric.MeterProvider
	Logger        *zap.SugaredLogger
	// Credentials are the tokens the install's own functions are sent: a
	// delivery presents one only to the address it is for (CredentialFor),
	// so a sink a tenant names never receives the install's credentials.
	Credentials []Credential
}

// Sender delivers events to one sink, off the caller's path. Send never
// blocks: events wait in a bounded queue and go out in order over HTTP. The
// events that arrive within batchLinger of each other go in one request in
// the structured batch mode (application/cloudevents-batch+json), one alone
// in binary mode, until the sink answers a batch 400 or 415, after which
// each goes alone.
// Deliveries are retried with backoff while the sink is down or answers 429
// or 5xx, so that none is lost to a short outage. An event arriving at a
// full queue is dropped and counted; one the sink refuses outright (another
// 4xx) is dropped and counted too.
type Sender struct {
	target   string
	client   cloudevents.Client
	queue    chan cloudevents.Event
	min, max time.Duration
	logger   *zap.SugaredLogger

	sent, failed, dropped metric.Int64Counter
	stopped               chan struct{}
	// credential is the token this sink is sent; nil sends none.
	credential *tokenFile
	// http sends batches; noBatches is set once the sink refused one.
	http      *http.Client
	noBatches atomic.Bool
}

// NewSender starts a Sender for target; Close stops it.
func NewSender(ctx context.Context, target string, opts SenderOptions) (*Sender, error) {
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(DefaultMaxBackoff, opts.MinBackoff)
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop().Sugar()
	}
	client, err := cloudevents.NewClientHTTP()
	if err != nil {
		return nil, fmt.Errorf("CloudEvents HTTP client: %w", err)
	}
	s := &Sender{
		target: target, client: client, queue: make(chan cloudevents.Event, opts.QueueSize),
		min: opts.MinBackoff, max: opts.MaxBackoff, logger: opts.Logger, stopped: make(chan struct{}),
		http: &http.Client{Timeout: attemptTimeout},
	}
	if c, ok := CredentialFor(target, opts.Credentials); ok {
		s.credential = &tokenFile{path: c.TokenFile}
	}
	if err := s.instruments(opts.MeterProvider); err != nil {
		return nil, err
	}
	go s.run(ctx)
	return s, nil
}

func (s *Sender) instruments(provider metric.MeterProvider) error {
	if provider == nil {
		return nil
	}
	meter := provider.Meter("github.com/oci-connector/oci-connector/pkg/events")
	var err error
	if s.sent, err = meter.Int64Counter("oci_connector.events.sent",
		metric.WithDescription("CloudEvents the sink accepted, by type")); err != nil {
		return err
	}
	if s.failed, err = meter.Int64Counter("oci_connector.events.failed",
		metric.WithDescription("Delivery attempts that failed, by type; the event is retried")); err != nil {
		return err
	}
	s.dropped, err = meter.Int64Counter("oci_connector.events.dropped",
		metric.WithDescription("CloudEvents given up, by type and reason (queue_full, rejected, shutdown)"))
	return err
}

// Send queues e for delivery and returns at once; false means e was dropped
// because the queue is full.
func (s *Sender) Send(e cloudevents.Event) bool {
	select {
	case s.queue <- e:
		return true
	default:
		s.count(context.Background(), s.dropped, e, attribute.String("reason", "queue_full"))
		return false
	}
}

// SendLowPriority queues e only while the queue is less than three quarters
// full, keeping the rest for events that matter more (a flood of refusals
// must not push out pulls and pushes); false means e was dropped.
func (s *Sender) SendLowPriority(e cloudevents.Event) bool {
	if len(s.queue) >= cap(s.queue)*3/4 {
		s.count(context.Background(), s.dropped, e, attribute.String("reason", "queue_reserved"))
		return false
	}
	return s.Send(e)
}

// Queued is how many events wait.
func (s *Sender) Queued() int { return len(s.queue) }

// Close waits, until ctx ends, for the Sender to deliver what is queued; the
// context given to NewSender must be cancelled first or together.
func (s *Sender) Close(ctx context.Context) error {
	select {
	case <-s.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Sender) run(ctx context.Context) {
	defer close(s.stopped)
	for ctx.Err() == nil {
		select {
		case e := <-s.queue:
			if batch := s.gather(e); len(batch) > 1 {
				s.deliverBatch(ctx, batch)
			} else {
				s.deliver(ctx, e)
			}
		case <-ctx.Done():
		}
	}
	s.drain()
}

// drain makes one attempt at each event still queued when the Sender stops.
func (s *Sender) drain() {
	for {
		select {
		case e := <-s.queue:
			ctx, cancel := context.WithTimeout(context.Background(), attemptTimeout)
			if retry, err := s.attempt(ctx, e); err != nil {
				reason := "rejected"
				if retry {
					reason = "shutdown"
				}
				s.count(context.Background(), s.dropped, e, attribute.String("reason", reason))
			}
			cancel()
		default:
			return
		}
	}
}

// deliver tries e until the sink takes it, refuses it for good, or ctx ends.
func (s *Sender) deliver(ctx context.Context, e cloudevents.Event) {
	wait := s.min
	for {
		retry, err := s.attempt(ctx, e)
		if err == nil {
			return
		}
		if !retry {
			s.logger.Warnw("The event sink refused an event; dropped", "type", e.Type(), "id", e.ID(), zap.Error(err))
			s.count(ctx, s.dropped, e, attribute.String("reason", "rejected"))
			return
		}
		s.logger.Debugw("Event delivery failed; retrying", "type", e.Type(), "id", e.ID(), "in", wait, zap.Error(err))
		if !s.backOff(ctx, wait, e) {
			return
		}
		wait = min(2*wait, s.max)
	}
}

// backOff waits before the next attempt at events; false means ctx ended
// first, and the events went back in the queue for drain's last attempt
// (or, with no room, were dropped and counted).
func (s *Sender) backOff(ctx context.Context, wait time.Duration, events ...cloudevents.Event) bool {
	select {
	case <-time.After(wait):
		return true
	case <-ctx.Done():
	}
	for _, e := range events {
		select {
		case s.queue <- e:
		default:
			s.count(context.Background(), s.dropped, e, attribute.String("reason", "shutdown"))
		}
	}
	return false
}

// attempt sends e once; retry says whether a failure is worth another try.
func (s *Sender) attempt(ctx context.Context, e cloudevents.Event) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(cloudevents.ContextWithTarget(ctx, s.target), attemptTimeout)
	defer cancel()
	if s.credential != nil {
		token, err := s.credential.token()
		if err != nil {
			s.logger.Warnw("Cannot present a credential to the sink; retrying", zap.Error(err))
			return true, err
		}
		ctx = cehttp.WithCustomHeader(ctx, http.Header{"Authorization": {"Bearer " + token}})
	}
	res := s.client.Send(ctx, e)
	if cloudevents.IsACK(res) {
		s.count(ctx, s.sent, e)
		return false, nil
	}
	s.count(ctx, s.failed, e)
	var httpResult *cehttp.Result
	if errors.As(res, &httpResult) {
		code := httpResult.StatusCode
		return code == http.StatusTooManyRequests || code >= 500 || code == http.StatusRequestTimeout, res
	}
	return true, res
}

func (s *Sender) count(ctx context.Context, c metric.Int64Counter, e cloudevents.Event, attrs ...attribute.KeyValue) {
	if c == nil {
		return
	}
	c.Add(ctx, 1, metric.WithAttributes(append(attrs, attribute.String("type", e.Type()))...))
}

// gather returns first and the events that arrive within batchLinger of
// it, up to MaxSendBatch, unless the sink takes no batches.
func (s *Sender) gather(first cloudevents.Event) []cloudevents.Event {
	batch := []cloudevents.Event{first}
	if s.noBatches.Load() {
		return batch
	}
	linger := time.NewTimer(batchLinger)
	defer linger.Stop()
	for len(batch) < MaxSendBatch {
		select {
		case e := <-s.queue:
			batch = append(batch, e)
		case <-linger.C:
			return batch
		}
	}
	return batch
}

// deliverBatch tries the batch until the sink takes it or refuses it for
// good; a sink that does not take batches gets each event alone.
func (s *Sender) deliverBatch(ctx context.Context, batch []cloudevents.Event) {
	wait := s.min
	for {
		code, err := s.attemptBatch(ctx, batch)
		switch {
		case err == nil:
			for _, e := range batch {
				s.count(ctx, s.sent, e)
			}
			return
		case code == http.StatusBadRequest || code == http.StatusUnsupportedMediaType:
			s.logger.Infow("The event sink takes no batches; sending events one at a time", "status", code)
			s.noBatches.Store(true)
			for _, e := range batch {
				s.deliver(ctx, e)
			}
			return
		case code != 0 && code != http.StatusTooManyRequests && code != http.StatusRequestTimeout && code < 500:
			s.logger.Warnw("The event sink refused a batch; dropped", "events", len(batch), zap.Error(err))
			for _, e := range batch {
				s.count(ctx, s.dropped, e, attribute.String("reason", "rejected"))
			}
			return
		}
		for _, e := range batch {
			s.count(ctx, s.failed, e)
		}
		s.logger.Debugw("Batch delivery failed; retrying", "events", len(batch), "in", wait, zap.Error(err))
		if !s.backOff(ctx, wait, batch...) {
			return
		}
		wait = min(2*wait, s.max)
	}
}

// attemptBatch posts the batch once; code is the sink's status, 0 when
// there was none.
func (s *Sender) attemptBatch(ctx context.Context, batch []cloudevents.Event) (code int, err error) {
	req, err := cehttp.NewHTTPRequestFromEvents(ctx, s.target, batch)
	if err != nil {
		return 0, err
	}
	if s.credential != nil {
		token, err := s.credential.token()
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("the sink answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}
