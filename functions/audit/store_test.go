package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/oci-connector/oci-connector/pkg/events"
	"github.com/oci-connector/oci-connector/test/harness"
	"github.com/oci-connector/oci-connector/test/postgres"
)

// postgresURL is one real PostgreSQL server for the package's tests.
var postgresURL string

func TestMain(m *testing.M) {
	runner := &harness.Runner{}
	postgresURL = postgres.Start(runner)
	code := m.Run()
	runner.Close()
	os.Exit(code)
}

// eachStore runs f against a fresh SQLite file and the PostgreSQL server
// (emptied first).
func eachStore(t *testing.T, f func(t *testing.T, s *store)) {
	ctx := context.Background()
	t.Run("sqlite", func(t *testing.T) {
		s, err := openStore(ctx, "", filepath.Join(t.TempDir(), "audit.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		f(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		s, err := openStore(ctx, postgresURL, "")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.db.ExecContext(ctx, `DELETE FROM events`); err != nil {
			t.Fatal(err)
		}
		f(t, s)
	})
}

func event(t *testing.T, typ, id string, at time.Time, data events.ImageData) cloudevents.Event {
	t.Helper()
	e, err := events.New(typ, data.Namespace, data.Connector, "proxy.example.com/"+data.Repository+":"+data.Reference, data)
	if err != nil {
		t.Fatal(err)
	}
	e.SetID(id)
	e.SetTime(at)
	return e
}

func pulled(ns, connector, repo, user string) events.ImageData {
	return events.ImageData{Connector: connector, Namespace: ns, Repository: repo, Reference: "v1",
		Identity: events.Identity{Username: user}, Outcome: events.OutcomeAllowed}
}

func TestStore(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store) {
		ctx := context.Background()
		base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
		alice := "system:serviceaccount:team-a:default"
		bob := "system:serviceaccount:team-b:builder"
		all := []cloudevents.Event{
			event(t, events.ImagePulled, "1", base, pulled("platform", "harbor", "team/app", alice)),
			event(t, events.ImagePulled, "2", base.Add(time.Minute), pulled("platform", "harbor", "team/app", bob)),
			event(t, events.ImagePulled, "3", base.Add(2*time.Minute), pulled("platform", "harbor", "team/db", alice)),
			event(t, events.AccessDenied, "4", base.Add(3*time.Minute), events.ImageData{Connector: "harbor", Namespace: "platform",
				Repository: "team/app", Identity: events.Identity{Username: bob}, Outcome: events.OutcomeDenied, Reason: events.ReasonNoRBAC}),
			event(t, events.ImagePulled, "5", base.Add(4*time.Minute), pulled("other", "quay", "x/y", alice)),
		}
		for _, e := range all {
			if inserted, err := s.insert(ctx, e); err != nil || !inserted {
				t.Fatalf("insert %s: %v, %v", e.ID(), inserted, err)
			}
		}
		// A redelivery leaves one row.
		if inserted, err := s.insert(ctx, all[0]); err != nil || inserted {
			t.Fatalf("the duplicate insert: inserted %v, %v", inserted, err)
		}
		if got, _, _ := s.query(ctx, filter{}); len(got) != 5 {
			t.Fatalf("%d rows after a duplicate, want 5", len(got))
		}

		ids := func(f filter) []string {
			t.Helper()
			rows, _, err := s.query(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, r := range rows {
				out = append(out, r.ID)
			}
			return out
		}
		for _, c := range []struct {
			name string
			f    filter
			want string
		}{
			{"all, newest first", filter{}, "5 4 3 2 1"},
			{"by type", filter{Type: events.AccessDenied}, "4"},
			{"by the Connector's namespace", filter{Namespace: "other"}, "5"},
			{"by connector name", filter{Connector: "harbor"}, "4 3 2 1"},
			{"by namespace/name", filter{Connector: "other/quay"}, "5"},
			{"by identity", filter{Identity: bob}, "4 2"},
			{"by image", filter{Subject: "proxy.example.com/team/db:v1"}, "3"},
			{"since and until", filter{Since: base.Add(time.Minute), Until: base.Add(3 * time.Minute)}, "3 2"},
		} {
			if got := join(ids(c.f)); got != c.want {
				t.Errorf("%s: %q, want %q", c.name, got, c.want)
			}
		}

		// Pages of two, by cursor.
		var pages []string
		f := filter{Limit: 2}
		for {
			rows, next, err := s.query(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			var page []string
			for _, r := range rows {
				page = append(page, r.ID)
			}
			pages = append(pages, join(page))
			if next == "" {
				break
			}
			f.Cursor = next
		}
		if got := join(pages); got != "5 4 3 2 1" || len(pages) != 3 {
			t.Errorf("pages %q", pages)
		}
		if _, _, err := s.query(ctx, filter{Cursor: "nonsense!"}); err != errBadCursor {
			t.Errorf("a bad cursor: %v", err)
		}

		// The stored row keeps the identity and the data whole.
		rows, _, _ := s.query(ctx, filter{Type: events.AccessDenied})
		if r := rows[0]; r.Identity != bob || r.Client != "team-b" || r.Reason != events.ReasonNoRBAC || r.Outcome != events.OutcomeDenied || len(r.Data) == 0 {
			t.Errorf("row %+v", r)
		}

		st, err := s.stats(ctx, base, base.Add(time.Hour), nil)
		perImage, perNamespace := st.PerImage, st.PerNamespace
		if err != nil {
			t.Fatal(err)
		}
		if len(perImage) != 3 || perImage[0] != (count{"platform/harbor:team/app", 2}) {
			t.Errorf("pulls per image %+v", perImage)
		}
		if len(perNamespace) != 2 || perNamespace[0] != (count{"team-a", 3}) || perNamespace[1] != (count{"team-b", 1}) {
			t.Errorf("pulls per namespace %+v", perNamespace)
		}

		// Pulls through a caching Connector, by where they came from.
		for i, result := range []string{events.CacheMiss, events.CacheHit, events.CacheHit, events.CacheStale} {
			d := pulled("platform", "cached", "team/app", alice)
			d.Cache = result
			if _, err := s.insert(ctx, event(t, events.ImagePulled, fmt.Sprintf("c%d", i), base.Add(30*time.Minute), d)); err != nil {
				t.Fatal(err)
			}
		}
		st, err = s.stats(ctx, base, base.Add(time.Hour), nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := []cacheCount{{Key: "platform/cached", Hit: 2, Miss: 1, Stale: 1}}; fmt.Sprint(st.CachePerConnector) != fmt.Sprint(want) || st.CachePerConnector[0].HitRatio() != 75 {
			t.Errorf("cache per Connector %+v, want %+v at 75%%", st.CachePerConnector, want)
		}
		if rows, _, _ := s.query(ctx, filter{Connector: "cached", Limit: 1}); len(rows) != 1 || rows[0].Cache == "" {
			t.Errorf("a cached pull's row has no cache result: %+v", rows)
		}
		if _, err := s.db.ExecContext(ctx, s.rebind(`DELETE FROM events WHERE connector = ?`), "cached"); err != nil {
			t.Fatal(err)
		}

		n, err := s.deleteBefore(ctx, base.Add(2*time.Minute))
		if err != nil || n != 2 {
			t.Fatalf("deleteBefore: %d, %v; want 2", n, err)
		}
		if got := join(ids(filter{})); got != "5 4 3" {
			t.Errorf("after retention: %q", got)
		}
	})
}

func TestMigrationsRunOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store) {
		if err := s.migrate(context.Background()); err != nil {
			t.Fatalf("migrating again: %v", err)
		}
		var versions int
		if err := s.db.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&versions); err != nil {
			t.Fatal(err)
		}
		if versions != len(migrations) {
			t.Errorf("%d migrations recorded, want %d", versions, len(migrations))
		}
	})
}

func join(ss []string) string { return strings.Join(ss, " ") }

// Concurrent writers, duplicates among them, share batches: every event is
// stored once and every writer hears of its own write.
func TestBatcherWritesConcurrentEventsOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		b := newBatcher(ctx, s)
		base := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, 400)
		for i := range 400 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := strconv.Itoa(i % 300) // 100 duplicates
				errs <- b.write(ctx, event(t, events.ImagePulled, id, base, pulled("platform", "harbor", "team/app", "u")))
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		var n int
		if err := s.db.QueryRow(`SELECT COUNT(*) FROM events`).Scan(&n); err != nil || n != 300 {
			t.Errorf("%d rows (%v), want 300", n, err)
		}
	})
}

// NUL bytes and invalid UTF-8, which PostgreSQL refuses in text, are
// stripped, so such an event neither fails nor loses the batch it came in.
func TestEventsWithNULAndInvalidUTF8AreStored(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		b := newBatcher(ctx, s)
		bad := pulled("platform", "harbor", "team/app\xff", "u")
		bad.UserAgent = "curl\x00/8"
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for i, d := range []events.ImageData{bad, pulled("platform", "harbor", "team/a", "u"), pulled("platform", "harbor", "team/b", "u")} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- b.write(ctx, event(t, events.ImagePulled, "nul-"+strconv.Itoa(i), time.Now(), d))
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("a write failed: %v", err)
			}
		}
		var agent, data string
		if err := s.db.QueryRow(s.rebind(`SELECT user_agent, data FROM events WHERE id = ?`), "nul-0").Scan(&agent, &data); err != nil {
			t.Fatal(err)
		}
		if agent != "curl/8" || strings.Contains(data, `\u0000`) || !utf8.ValidString(data) {
			t.Errorf("stored user agent %q and data %s, want them cleaned", agent, data)
		}
	})
}

// When a batch fails, its events are stored one by one: one the database
// refuses loses nothing else.
func TestABatchThatFailsFallsBackToOneInsertEach(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := openStore(ctx, postgresURL, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The database itself refuses one event, as it would a row it cannot take.
	for _, stmt := range []string{
		`DELETE FROM events`,
		`CREATE OR REPLACE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN
			IF NEW.id = 'poison' THEN RAISE EXCEPTION 'poisoned'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`,
		`DROP TRIGGER IF EXISTS refuse_poison ON events`,
		`CREATE TRIGGER refuse_poison BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse_poison()`,
	} {
		if _, err := s.db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_, _ = s.db.ExecContext(context.Background(), `DROP TRIGGER IF EXISTS refuse_poison ON events`)
	})
	// All five wait before the batcher starts, so they go as one batch.
	b := &batcher{store: s, pending: make(chan pendingEvent, maxBatch)}
	waiting := map[string]pendingEvent{}
	for _, id := range []string{"poison", "a", "b", "c", "d"} {
		p := pendingEvent{event: event(t, events.ImagePulled, id, time.Now(), pulled("platform", "harbor", "team/app", "u")), done: make(chan error, 1)}
		waiting[id] = p
		b.pending <- p
	}
	go b.run(ctx)
	for id, p := range waiting {
		if err := <-p.done; (err != nil) != (id == "poison") {
			t.Errorf("event %s: %v", id, err)
		}
	}
	var n int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM events`).Scan(&n); err != nil || n != 4 {
		t.Errorf("%d rows (%v), want the 4 good events", n, err)
	}
}
