package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/oci-connector/oci-connector/pkg/events"
)

// defaultStatsWindow is what GET /stats counts without since.
const defaultStatsWindow = 24 * time.Hour

// server is the audit function's HTTP face: the CloudEvents receiver, the
// JSON query API and the page.
type server struct {
	store  *store
	writes *batcher
	// senders checks who writes; every event needs a sender it accepts.
	senders *senderAuth
	// readers decides what each reader sees.
	readers *readerAuth
	logger  *zap.SugaredLogger
	now     func() time.Time
	// ephemeral, when set, is where the store lives that dies with the
	// pod (ephemeralStore): the page says so to every reader.
	ephemeral string
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /", s.receive)
	mux.HandleFunc("GET /events", s.listEvents)
	mux.HandleFunc("GET /stats", s.getStats)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /{$}", s.page)
	mux.HandleFunc("POST /login", s.login)
	return mux
}

// receive stores the CloudEvents of a request, one or a batch. A
// redelivery is accepted and changes nothing; a database error asks the
// sender to retry.
func (s *server) receive(w http.ResponseWriter, r *http.Request) {
	// The sender is known from the headers before a byte of the body is read.
	from, err := s.senders.sender(r)
	if err != nil {
		var se *httpError
		errors.As(err, &se)
		http.Error(w, se.message, se.status)
		return
	}
	received, ok := events.ReceiveAll(w, r)
	if !ok {
		return
	}
	// A batch is taken whole or not at all: a sender may speak only of what
	// it may record in every event.
	for i := 0; err == nil && i < len(received); i++ {
		err = from.mayRecord(&received[i])
	}
	if err != nil {
		var se *httpError
		errors.As(err, &se)
		http.Error(w, se.message, se.status)
		return
	}
	if err := s.writes.writeAll(r.Context(), received); err != nil {
		s.logger.Errorw("Cannot store an event", zap.Error(err))
		http.Error(w, "cannot store the event now; retry", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// filterFrom reads the query parameters of /events and the page.
func filterFrom(r *http.Request) (filter, error) {
	q := r.URL.Query()
	f := filter{
		Namespace: q.Get("namespace"), Connector: q.Get("connector"), Type: q.Get("type"),
		Subject: q.Get("subject"), Identity: q.Get("identity"), Cursor: q.Get("cursor"),
	}
	var err error
	if f.Since, err = timeParam(q.Get("since")); err != nil {
		return f, errors.New("since: " + err.Error())
	}
	if f.Until, err = timeParam(q.Get("until")); err != nil {
		return f, errors.New("until: " + err.Error())
	}
	if l := q.Get("limit"); l != "" {
		if f.Limit, err = strconv.Atoi(l); err != nil || f.Limit < 1 {
			return f, errors.New("limit: want a positive number")
		}
	}
	return f, nil
}

// timeParam takes RFC 3339 or a duration back from now ("1h").
func timeParam(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		return time.Now().Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, errors.New("want RFC 3339 (2026-11-22T10:00:00Z) or a duration back from now (24h)")
	}
	return t, nil
}

// readerScope is the namespaces the reader of r may see (nil: all); on a
// refusal it has answered r.
func (s *server) readerScope(w http.ResponseWriter, r *http.Request) ([]string, bool) {
	namespaces, err := s.readers.scope(r, s.store.namespaces)
	if err != nil {
		var se *httpError
		if !errors.As(err, &se) {
			s.logger.Errorw("Listing namespaces failed", zap.Error(err))
			se = &httpError{http.StatusInternalServerError, "the query failed"}
		}
		writeJSONError(w, se.status, se.message)
		return nil, false
	}
	return namespaces, true
}

func (s *server) listEvents(w http.ResponseWriter, r *http.Request) {
	f, err := filterFrom(r)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	var ok bool
	if f.Namespaces, ok = s.readerScope(w, r); !ok {
		return
	}
	records, next, err := s.store.query(r.Context(), f)
	if errors.Is(err, errBadCursor) {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	} else if err != nil {
		s.logger.Errorw("Query failed", zap.Error(err))
		writeJSONError(w, http.StatusInternalServerError, "the query failed")
		return
	}
	if records == nil {
		records = []record{}
	}
	writeJSON(w, map[string]any{"events": records, "next": next})
}

func (s *server) getStats(w http.ResponseWriter, r *http.Request) {
	namespaces, ok := s.readerScope(w, r)
	if !ok {
		return
	}
	since, err := timeParam(r.URL.Query().Get("since"))
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "since: "+err.Error())
		return
	}
	until, err := timeParam(r.URL.Query().Get("until"))
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "until: "+err.Error())
		return
	}
	now := s.now()
	if until.IsZero() {
		until = now
	}
	if since.IsZero() {
		since = until.Add(-defaultStatsWindow)
	}
	st, err := s.store.stats(r.Context(), since, until, namespaces)
	if err != nil {
		s.logger.Errorw("Stats failed", zap.Error(err))
		writeJSONError(w, http.StatusInternalServerError, "the query failed")
		return
	}
	writeJSON(w, map[string]any{
		"since": since.UTC(), "until": until.UTC(),
		"pullsPerImage": st.PerImage, "pullsPerNamespace": st.PerNamespace, "deniedPerReason": st.DeniedPerReason,
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeJSONError(w http.ResponseWriter, code int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": message})
}
