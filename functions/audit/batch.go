package main

import (
	"context"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// maxBatch bounds one INSERT: 17 parameters an event stays far below both
// databases' limits.
const maxBatch = 256

// batcher writes events in groups: whatever arrived while the last write was
// running goes in the next one, in one statement. One event alone is written
// at once; under load, one commit serves many requests. Each caller waits for
// the write that holds its event, so an accepted event is a stored one.
type batcher struct {
	store   *store
	pending chan pendingEvent
}

type pendingEvent struct {
	event cloudevents.Event
	done  chan error
}

func newBatcher(ctx context.Context, st *store) *batcher {
	b := &batcher{store: st, pending: make(chan pendingEvent, maxBatch)}
	go b.run(ctx)
	return b
}

// write waits until e is written, or the write failed.
func (b *batcher) write(ctx context.Context, e cloudevents.Event) error {
	return b.writeAll(ctx, []cloudevents.Event{e})
}

// writeAll waits until every event is written, or a write failed. The
// events go into the queue together, so they share writes.
func (b *batcher) writeAll(ctx context.Context, events []cloudevents.Event) error {
	pending := make([]pendingEvent, len(events))
	for i, e := range events {
		pending[i] = pendingEvent{event: e, done: make(chan error, 1)}
		select {
		case b.pending <- pending[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, p := range pending {
		select {
		case err := <-p.done:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (b *batcher) run(ctx context.Context) {
	batch := make([]pendingEvent, 0, maxBatch)
	for {
		select {
		case p := <-b.pending:
			batch = append(batch[:0], p)
		case <-ctx.Done():
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case p := <-b.pending:
				batch = append(batch, p)
			default:
				break more
			}
		}
		events := make([]cloudevents.Event, len(batch))
		for i, p := range batch {
			events[i] = p.event
		}
		_, err := b.store.insertAll(ctx, dedupe(events))
		if err != nil && len(batch) > 1 {
			// One bad event must not lose the others: one insert each.
			for _, p := range batch {
				_, err := b.store.insertAll(ctx, []cloudevents.Event{p.event})
				p.done <- err
			}
			continue
		}
		for _, p := range batch {
			p.done <- err
		}
	}
}

// dedupe keeps the first of events with the same (source, id): PostgreSQL
// refuses one statement that would touch a row twice.
func dedupe(all []cloudevents.Event) []cloudevents.Event {
	seen := make(map[[2]string]bool, len(all))
	out := all[:0:0]
	for _, e := range all {
		key := [2]string{e.Source(), e.ID()}
		if !seen[key] {
			seen[key] = true
			out = append(out, e)
		}
	}
	return out
}
