package events

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// sink is a CloudEvents receiver whose answer can be changed: it records the
// ids of the events it accepted, alone or in batches, and counts every
// attempt.
type sink struct {
	*httptest.Server
	status   atomic.Int32
	attempts atomic.Int32
	mu       sync.Mutex
	accepted []string
}

func newSink(t *testing.T, status int) *sink {
	s := &sink{}
	s.status.Store(int32(status))
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.attempts.Add(1)
		code := int(s.status.Load())
		if code < 300 {
			received, ok := ReceiveAll(w, r)
			if !ok {
				return
			}
			s.mu.Lock()
			for _, e := range received {
				s.accepted = append(s.accepted, e.ID())
			}
			s.mu.Unlock()
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sink) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.accepted...)
}

func testEvent(t *testing.T) cloudevents.Event {
	t.Helper()
	e, err := New(ImagePulled, "platform", "harbor", "c-harbor.platform.example.com/team/app:v1",
		ImageData{Connector: "harbor", Namespace: "platform", Outcome: OutcomeAllowed})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// counters reads the sender's counters, summed over attributes, by name and
// (for dropped) reason.
func counters(t *testing.T, reader *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				continue
			}
			for _, dp := range sum.DataPoints {
				key := m.Name
				if reason, ok := dp.Attributes.Value("reason"); ok {
					key += "/" + reason.AsString()
				}
				out[key] += dp.Value
			}
		}
	}
	return out
}

func newTestSender(t *testing.T, target string, queue int) (*Sender, *sdkmetric.ManualReader, context.CancelFunc) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := NewSender(ctx, target, SenderOptions{
		QueueSize: queue, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	return s, reader, cancel
}

// waitUntil polls cond for up to 10 seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestEventsWaitWhileTheSinkIsDownAndArriveAfter(t *testing.T) {
	sk := newSink(t, http.StatusServiceUnavailable)
	s, reader, _ := newTestSender(t, sk.URL, 100)
	var sent []string
	for range 50 {
		e := testEvent(t)
		if !s.Send(e) {
			t.Fatal("an event was dropped with room in the queue")
		}
		sent = append(sent, e.ID())
	}
	waitUntil(t, "a few failed attempts", func() bool { return sk.attempts.Load() >= 3 })
	if len(sk.ids()) != 0 {
		t.Fatal("a sink that answers 503 accepted events")
	}

	sk.status.Store(http.StatusAccepted)
	waitUntil(t, "all 50 events delivered", func() bool { return len(sk.ids()) == 50 })
	got := map[string]bool{}
	for _, id := range sk.ids() {
		got[id] = true
	}
	for _, id := range sent {
		if !got[id] {
			t.Errorf("event %s was never delivered", id)
		}
	}
	// The sink has an event before the sender hears its answer and counts it.
	waitUntil(t, "all 50 counted as sent", func() bool { return counters(t, reader)["oci_connector.events.sent"] == 50 })
	c := counters(t, reader)
	if c["oci_connector.events.failed"] < 3 || c["oci_connector.events.dropped/queue_full"] != 0 {
		t.Errorf("counters = %v", c)
	}
}

func TestAFullQueueDropsAndCountsWithoutBlocking(t *testing.T) {
	sk := newSink(t, http.StatusServiceUnavailable)
	s, reader, _ := newTestSender(t, sk.URL, 5)
	// The first event is taken into delivery; wait for that, so the queue's
	// room is exactly its size.
	s.Send(testEvent(t))
	waitUntil(t, "the first attempt", func() bool { return sk.attempts.Load() >= 1 })

	kept, dropped := 0, 0
	for range 20 {
		if s.Send(testEvent(t)) {
			kept++
		} else {
			dropped++
		}
	}
	if kept != 5 || dropped != 15 {
		t.Fatalf("kept %d and dropped %d of 20 with a queue of 5; want 5 and 15", kept, dropped)
	}
	if got := counters(t, reader)["oci_connector.events.dropped/queue_full"]; got != 15 {
		t.Errorf("dropped counter = %d, want 15", got)
	}
	sk.status.Store(http.StatusOK)
	waitUntil(t, "the kept events and the one in flight delivered", func() bool { return len(sk.ids()) == 6 })
}

func TestASinkThatRefusesAnEventIsNotAskedAgain(t *testing.T) {
	sk := newSink(t, http.StatusBadRequest)
	s, reader, _ := newTestSender(t, sk.URL, 10)
	s.Send(testEvent(t))
	waitUntil(t, "the event rejected", func() bool { return counters(t, reader)["oci_connector.events.dropped/rejected"] == 1 })
	// Events go out in order: once a second one is delivered, a retry of
	// the first would have come before it.
	sk.status.Store(http.StatusOK)
	s.Send(testEvent(t))
	waitUntil(t, "the next event delivered", func() bool { return len(sk.ids()) == 1 })
	if n := sk.attempts.Load(); n != 2 {
		t.Errorf("%d attempts for an event refused with 400 and the next one, want 2", n)
	}
}

func TestCloseDeliversWhatIsQueued(t *testing.T) {
	sk := newSink(t, http.StatusOK)
	s, _, cancel := newTestSender(t, sk.URL, 100)
	for range 10 {
		s.Send(testEvent(t))
	}
	cancel()
	ctx, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(sk.ids()); n != 10 {
		t.Errorf("%d of 10 queued events delivered by Close", n)
	}
}

func TestEventShape(t *testing.T) {
	e := testEvent(t)
	if e.Source() != "/apis/oci-connector.dev/v1alpha1/namespaces/platform/connectors/harbor" ||
		e.Type() != ImagePulled || e.Subject() != "c-harbor.platform.example.com/team/app:v1" || e.ID() == "" {
		t.Errorf("event = %v", e)
	}
	if err := e.Validate(); err != nil {
		t.Errorf("not a valid CloudEvent: %v", err)
	}
}

// Events that wait together go together: after an outage the queue goes
// out in batches, in order, in fewer requests than events.
func TestQueuedEventsGoInBatchesInOrder(t *testing.T) {
	sk := newSink(t, http.StatusServiceUnavailable)
	var batches atomic.Int32
	inner := sk.Config.Handler
	sk.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") == "application/cloudevents-batch+json" {
			batches.Add(1)
		}
		inner.ServeHTTP(w, r)
	})
	s, _, _ := newTestSender(t, sk.URL, 1000)
	var sent []string
	for range 250 {
		e := testEvent(t)
		s.Send(e)
		sent = append(sent, e.ID())
	}
	waitUntil(t, "a failed attempt", func() bool { return sk.attempts.Load() >= 1 })
	sk.status.Store(http.StatusAccepted)
	waitUntil(t, "all 250 events delivered", func() bool { return len(sk.ids()) == 250 })
	if got := sk.ids(); !slices.Equal(got, sent) {
		t.Errorf("delivered out of order")
	}
	if batches.Load() == 0 || sk.attempts.Load() >= 250 {
		t.Errorf("%d batches in %d requests for 250 events", batches.Load(), sk.attempts.Load())
	}
}

// A sink that answers a batch 415 gets each event alone from then on, and
// loses none.
func TestASinkWithoutBatchesGetsEventsAlone(t *testing.T) {
	sk := newSink(t, http.StatusServiceUnavailable)
	var batches atomic.Int32
	inner := sk.Config.Handler
	sk.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") == "application/cloudevents-batch+json" && sk.status.Load() < 300 {
			batches.Add(1)
			w.WriteHeader(http.StatusUnsupportedMediaType)
			return
		}
		inner.ServeHTTP(w, r)
	})
	s, _, _ := newTestSender(t, sk.URL, 1000)
	var sent []string
	send := func(n int) {
		for range n {
			e := testEvent(t)
			s.Send(e)
			sent = append(sent, e.ID())
		}
	}
	send(100)
	waitUntil(t, "a failed attempt", func() bool { return sk.attempts.Load() >= 1 })
	sk.status.Store(http.StatusAccepted)
	waitUntil(t, "the first 100 events delivered", func() bool { return len(sk.ids()) == 100 })
	sk.status.Store(http.StatusServiceUnavailable)
	before := sk.attempts.Load()
	send(100)
	waitUntil(t, "a failed attempt with events waiting", func() bool { return sk.attempts.Load() > before })
	sk.status.Store(http.StatusAccepted)
	waitUntil(t, "all 200 events delivered", func() bool { return len(sk.ids()) == 200 })
	if got := sk.ids(); !slices.Equal(got, sent) {
		t.Errorf("delivered out of order")
	}
	if batches.Load() != 1 {
		t.Errorf("%d batches tried, want 1: the sink said it takes none", batches.Load())
	}
}
