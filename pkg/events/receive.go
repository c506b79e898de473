package events

import (
	"fmt"
	"net/http"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// What a receiver reads at most: of one event, and of a batch.
const (
	maxEventBytes  = 1 << 20
	maxBatchBytes  = 16 << 20
	maxBatchEvents = 1000
)

// Receive reads one CloudEvent from a request, binary or structured. A
// request that is not a valid CloudEvent is answered 400 here, and ok is
// false.
func Receive(w http.ResponseWriter, r *http.Request) (e *cloudevents.Event, ok bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxEventBytes)
	e, err := cehttp.NewEventFromHTTPRequest(r)
	if err != nil {
		http.Error(w, "not a CloudEvent: "+err.Error(), http.StatusBadRequest)
		return nil, false
	}
	if err := e.Validate(); err != nil {
		http.Error(w, "invalid CloudEvent: "+err.Error(), http.StatusBadRequest)
		return nil, false
	}
	return e, true
}

// ReceiveAll reads the CloudEvents of a request: one, binary or structured,
// or a batch (application/cloudevents-batch+json, the structured batch mode
// of the CloudEvents HTTP binding). A request that is not valid is answered
// 400 here, naming the event at fault, and ok is false.
func ReceiveAll(w http.ResponseWriter, r *http.Request) (events []cloudevents.Event, ok bool) {
	if !cehttp.IsHTTPBatch(r.Header) {
		e, ok := Receive(w, r)
		if !ok {
			return nil, false
		}
		return []cloudevents.Event{*e}, true
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBatchBytes)
	events, err := cehttp.NewEventsFromHTTPRequest(r)
	if err != nil {
		http.Error(w, "not a CloudEvents batch: "+err.Error(), http.StatusBadRequest)
		return nil, false
	}
	if len(events) == 0 || len(events) > maxBatchEvents {
		http.Error(w, fmt.Sprintf("a batch holds 1 to %d events, not %d", maxBatchEvents, len(events)), http.StatusBadRequest)
		return nil, false
	}
	for i := range events {
		if err := events[i].Validate(); err != nil {
			http.Error(w, fmt.Sprintf("invalid CloudEvent at %d in the batch: %v", i, err), http.StatusBadRequest)
			return nil, false
		}
	}
	return events, true
}
