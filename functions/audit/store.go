package main

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"

	"github.com/oci-connector/oci-connector/pkg/events"
)

// store keeps events in PostgreSQL or SQLite, one schema for both; queries
// are written with ? and rebound for PostgreSQL.
type store struct {
	db       *sql.DB
	postgres bool
}

// openStore opens PostgreSQL when databaseURL is set, else the SQLite file at
// sqlitePath, and brings the schema up to date.
func openStore(ctx context.Context, databaseURL, sqlitePath string) (*store, error) {
	s := &store{postgres: databaseURL != ""}
	var err error
	if s.postgres {
		s.db, err = sql.Open("pgx", databaseURL)
	} else {
		// WAL lets the page read while the receiver writes; one writer at a time.
		s.db, err = sql.Open("sqlite", "file:"+sqlitePath+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)")
		s.db.SetMaxOpenConns(1)
	}
	if err != nil {
		return nil, fmt.Errorf("opening the database: %w", err)
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("reaching the database: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

func (s *store) Close() error { return s.db.Close() }

// rebind turns ? placeholders into PostgreSQL's $1, $2, ...
func (s *store) rebind(query string) string {
	if !s.postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// record is one stored event.
type record struct {
	Source     string          `json:"source"`
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Subject    string          `json:"subject,omitempty"`
	Time       time.Time       `json:"time"`
	Namespace  string          `json:"namespace,omitempty"`
	Connector  string          `json:"connector,omitempty"`
	Repository string          `json:"repository,omitempty"`
	Reference  string          `json:"reference,omitempty"`
	Digest     string          `json:"digest,omitempty"`
	Identity   string          `json:"identity,omitempty"`
	Client     string          `json:"clientNamespace,omitempty"`
	Pod        string          `json:"pod,omitempty"`
	UserAgent  string          `json:"userAgent,omitempty"`
	Outcome    string          `json:"outcome,omitempty"`
	Reason     string          `json:"reason,omitempty"`
	Cache      string          `json:"cache,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
}

// recordOf flattens an event for its row; the data is kept whole beside.
func recordOf(e cloudevents.Event) record {
	// Every event's data names its Connector; the image columns stay empty
	// for data of another shape.
	var d events.ImageData
	_ = json.Unmarshal(e.Data(), &d)
	t := e.Time()
	if t.IsZero() {
		t = time.Now()
	}
	// Anything a client sent may hold NUL bytes or invalid UTF-8.
	return record{
		Source: clean(e.Source()), ID: clean(e.ID()), Type: clean(e.Type()), Subject: clean(e.Subject()), Time: t.UTC(),
		Namespace: clean(d.Namespace), Connector: clean(d.Connector), Repository: clean(d.Repository), Reference: clean(d.Reference),
		Digest: clean(d.Digest), Identity: clean(d.Identity.Username), Client: clean(clientNamespace(d.Identity.Username)),
		Pod: clean(d.Identity.Pod), UserAgent: clean(d.UserAgent), Outcome: clean(d.Outcome), Reason: clean(d.Reason),
		Cache: clean(d.Cache), Data: cleanJSON(e.Data()),
	}
}

// clientNamespace is the namespace of a ServiceAccount username.
func clientNamespace(username string) string {
	namespace, _ := serviceAccountOf(username)
	return namespace
}

// insertColumns are the columns an event fills, in insert order.
const insertColumns = `source, id, type, subject, time_us, namespace, connector, repository, reference, digest,
	identity, client_namespace, pod, user_agent, outcome, reason, cache, data`

// insert stores e once: a second delivery of the same (source, id) changes
// nothing, and says so.
func (s *store) insert(ctx context.Context, e cloudevents.Event) (inserted bool, err error) {
	n, err := s.insertAll(ctx, []cloudevents.Event{e})
	return n == 1, err
}

// insertAll stores events in one statement, each once; it returns how many
// were new.
func (s *store) insertAll(ctx context.Context, all []cloudevents.Event) (int64, error) {
	const columns = 18
	rows := make([]string, len(all))
	args := make([]any, 0, columns*len(all))
	for i, e := range all {
		r := recordOf(e)
		rows[i] = "(?" + strings.Repeat(", ?", columns-1) + ")"
		args = append(args, r.Source, r.ID, r.Type, r.Subject, r.Time.UnixMicro(), r.Namespace, r.Connector, r.Repository,
			r.Reference, r.Digest, r.Identity, r.Client, r.Pod, r.UserAgent, r.Outcome, r.Reason, r.Cache, string(r.Data))
	}
	res, err := s.db.ExecContext(ctx, s.rebind(`INSERT INTO events (`+insertColumns+`) VALUES `+
		strings.Join(rows, ", ")+` ON CONFLICT (source, id) DO NOTHING`), args...)
	if err != nil {
		return 0, fmt.Errorf("storing %d events: %w", len(all), err)
	}
	return res.RowsAffected()
}

// filter is what GET /events and the page select by; empty fields match all.
type filter struct {
	Namespace, Connector, Type, Subject, Identity string
	// Namespaces, when not nil, are the only Connector namespaces whose
	// events may be listed: the reader's.
	Namespaces   []string
	Since, Until time.Time
	Limit        int
	// Cursor continues a listing where its last page ended.
	Cursor string
}

const (
	defaultLimit = 100
	maxLimit     = 1000
)

var errBadCursor = errors.New("the cursor is not one this server gave out")

// query lists events newest first, a page at a time; next is the cursor of
// the following page, empty at the end.
func (s *store) query(ctx context.Context, f filter) (out []record, next string, err error) {
	var where []string
	var args []any
	eq := func(col, v string) {
		if v != "" {
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	eq("namespace", f.Namespace)
	if f.Namespaces != nil {
		where = append(where, inClause("namespace", len(f.Namespaces)))
		for _, ns := range f.Namespaces {
			args = append(args, ns)
		}
	}
	eq("type", f.Type)
	eq("subject", f.Subject)
	eq("identity", f.Identity)
	if ns, name, ok := strings.Cut(f.Connector, "/"); ok {
		eq("namespace", ns)
		eq("connector", name)
	} else {
		eq("connector", f.Connector)
	}
	if !f.Since.IsZero() {
		where = append(where, "time_us >= ?")
		args = append(args, f.Since.UnixMicro())
	}
	if !f.Until.IsZero() {
		where = append(where, "time_us < ?")
		args = append(args, f.Until.UnixMicro())
	}
	if f.Cursor != "" {
		t, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		where = append(where, "(time_us < ? OR (time_us = ? AND id < ?))")
		args = append(args, t, t, id)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxLimit)
	q := `SELECT ` + insertColumns + ` FROM events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY time_us DESC, id DESC LIMIT ?"
	args = append(args, limit+1)

	rows, err := s.db.QueryContext(ctx, s.rebind(q), args...)
	if err != nil {
		return nil, "", fmt.Errorf("querying events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r record
		var us int64
		var data string
		if err := rows.Scan(&r.Source, &r.ID, &r.Type, &r.Subject, &us, &r.Namespace, &r.Connector, &r.Repository, &r.Reference,
			&r.Digest, &r.Identity, &r.Client, &r.Pod, &r.UserAgent, &r.Outcome, &r.Reason, &r.Cache, &data); err != nil {
			return nil, "", fmt.Errorf("reading events: %w", err)
		}
		r.Time = time.UnixMicro(us).UTC()
		r.Data = json.RawMessage(data)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("reading events: %w", err)
	}
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		next = encodeCursor(last.Time.UnixMicro(), last.ID)
	}
	return out, next, nil
}

func encodeCursor(us int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(us, 10) + "|" + id))
}

func decodeCursor(c string) (int64, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", errBadCursor
	}
	t, id, ok := strings.Cut(string(raw), "|")
	us, err := strconv.ParseInt(t, 10, 64)
	if !ok || err != nil {
		return 0, "", errBadCursor
	}
	return us, id, nil
}

// count is one group of pulls in GET /stats.
type count struct {
	Key   string `json:"key"`
	Pulls int64  `json:"pulls"`
}

// tally is one group of refusals in GET /stats.
type tally struct {
	Key   string `json:"key"`
	Count int64  `json:"count"`
}

// statistics are what GET /stats and the page's charts show of a window.
type statistics struct {
	PerImage, PerNamespace []count
	DeniedPerReason        []tally
	// CachePerConnector counts the pulls of caching Connectors by where
	// the manifest came from.
	CachePerConnector []cacheCount
}

// cacheCount is one Connector's pulls by cache result in GET /stats.
type cacheCount struct {
	Key   string `json:"key"`
	Hit   int64  `json:"hit"`
	Miss  int64  `json:"miss"`
	Stale int64  `json:"stale"`
}

// HitRatio is the share of pulls served from the cache, stale ones
// included, in percent.
func (c cacheCount) HitRatio() int64 {
	total := c.Hit + c.Miss + c.Stale
	if total == 0 {
		return 0
	}
	return (c.Hit + c.Stale) * 100 / total
}

// stats counts, in [since, until), pulls per image (connector and
// repository) and per namespace of the pulling ServiceAccount, and
// refusals per reason, largest first; only of the Connectors in namespaces
// when that is not nil.
func (s *store) stats(ctx context.Context, since, until time.Time, namespaces []string) (statistics, error) {
	scope, scopeArgs := "", []any{}
	if namespaces != nil {
		scope = " AND " + inClause("namespace", len(namespaces))
		for _, ns := range namespaces {
			scopeArgs = append(scopeArgs, ns)
		}
	}
	group := func(typ, key string, each func(key string, n int64)) error {
		rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT `+key+` AS k, COUNT(*) AS n FROM events
			WHERE type = ? AND time_us >= ? AND time_us < ?`+scope+` GROUP BY k ORDER BY n DESC, k LIMIT 100`),
			append([]any{typ, since.UnixMicro(), until.UnixMicro()}, scopeArgs...)...)
		if err != nil {
			return fmt.Errorf("counting %s: %w", typ, err)
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			var n int64
			if err := rows.Scan(&k, &n); err != nil {
				return err
			}
			each(k, n)
		}
		return rows.Err()
	}
	st := statistics{PerImage: []count{}, PerNamespace: []count{}, DeniedPerReason: []tally{}, CachePerConnector: []cacheCount{}}
	if err := group(events.ImagePulled, "namespace || '/' || connector || ':' || repository", func(k string, n int64) {
		st.PerImage = append(st.PerImage, count{k, n})
	}); err != nil {
		return st, err
	}
	if err := group(events.ImagePulled, "client_namespace", func(k string, n int64) {
		st.PerNamespace = append(st.PerNamespace, count{k, n})
	}); err != nil {
		return st, err
	}
	if err := group(events.AccessDenied, "reason", func(k string, n int64) {
		st.DeniedPerReason = append(st.DeniedPerReason, tally{k, n})
	}); err != nil {
		return st, err
	}
	// Grouped by Connector and result in one key, split here: the same
	// GROUP BY on both databases.
	byConnector := map[string]*cacheCount{}
	err := group(events.ImagePulled, "namespace || '/' || connector || ' ' || cache", func(k string, n int64) {
		key, result, _ := strings.Cut(k, " ")
		c := byConnector[key]
		if c == nil {
			c = &cacheCount{Key: key}
			byConnector[key] = c
		}
		switch result {
		case events.CacheHit:
			c.Hit += n
		case events.CacheMiss:
			c.Miss += n
		case events.CacheStale:
			c.Stale += n
		}
	})
	for _, c := range byConnector {
		if c.Hit+c.Miss+c.Stale > 0 {
			st.CachePerConnector = append(st.CachePerConnector, *c)
		}
	}
	slices.SortFunc(st.CachePerConnector, func(a, b cacheCount) int {
		return cmp.Or(cmp.Compare(b.Hit+b.Miss+b.Stale, a.Hit+a.Miss+a.Stale), cmp.Compare(a.Key, b.Key))
	})
	return st, err
}

// deleteBefore removes events older than t, the retention.
func (s *store) deleteBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.rebind(`DELETE FROM events WHERE time_us < ?`), t.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("deleting old events: %w", err)
	}
	return res.RowsAffected()
}

// inClause is "col IN (?, ...)" for n values; for none, a condition no row
// meets.
func inClause(col string, n int) string {
	if n == 0 {
		return "1 = 0"
	}
	return col + " IN (?" + strings.Repeat(", ?", n-1) + ")"
}

// namespaces lists the Connector namespaces that have events.
func (s *store) namespaces(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT namespace FROM events WHERE namespace <> ''`)
	if err != nil {
		return nil, fmt.Errorf("listing namespaces: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var ns string
		if err := rows.Scan(&ns); err != nil {
			return nil, err
		}
		out = append(out, ns)
	}
	return out, rows.Err()
}
