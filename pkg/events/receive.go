package events

import (
	"net/http"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// maxEventBytes bounds what a receiver reads of one event.
const maxEventBytes = 1 << 20

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
