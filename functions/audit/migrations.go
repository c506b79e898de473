package main

import (
	"context"
	"fmt"
)

// migrations are applied in order, each once; their SQL runs on PostgreSQL
// and SQLite alike. Append, never edit.
var migrations = []string{
	`CREATE TABLE events (
		source           TEXT NOT NULL,
		id               TEXT NOT NULL,
		type             TEXT NOT NULL,
		subject          TEXT NOT NULL DEFAULT '',
		time_us          BIGINT NOT NULL,
		namespace        TEXT NOT NULL DEFAULT '',
		connector        TEXT NOT NULL DEFAULT '',
		repository       TEXT NOT NULL DEFAULT '',
		reference        TEXT NOT NULL DEFAULT '',
		digest           TEXT NOT NULL DEFAULT '',
		identity         TEXT NOT NULL DEFAULT '',
		client_namespace TEXT NOT NULL DEFAULT '',
		pod              TEXT NOT NULL DEFAULT '',
		user_agent       TEXT NOT NULL DEFAULT '',
		outcome          TEXT NOT NULL DEFAULT '',
		reason           TEXT NOT NULL DEFAULT '',
		data             TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (source, id)
	)`,
	`CREATE INDEX events_time ON events (time_us, id)`,
	`CREATE INDEX events_type_time ON events (type, time_us)`,
	// image.pulled's cache (hit, miss, stale) when the Connector caches.
	`ALTER TABLE events ADD COLUMN cache TEXT NOT NULL DEFAULT ''`,
}

// migrationLock serializes replicas that start together on PostgreSQL.
const migrationLock = 0x6f6369

// migrate brings the schema to the newest version, each step in its own
// transaction, recorded in schema_migrations. Replicas starting at once take
// turns (an advisory lock on PostgreSQL; SQLite has one writer).
func (s *store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)`); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	for v := 1; v <= len(migrations); v++ {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if s.postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
				tx.Rollback()
				return fmt.Errorf("locking for migration %d: %w", v, err)
			}
		}
		var current int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			tx.Rollback()
			return fmt.Errorf("reading the schema version: %w", err)
		}
		if current >= v {
			tx.Rollback()
			continue
		}
		if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO schema_migrations (version) VALUES (?)`), v); err != nil {
			tx.Rollback()
			return fmt.Errorf("recording migration %d: %w", v, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
	}
	return nil
}
