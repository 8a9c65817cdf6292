package metadata

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Durable commits cost one fsync of the write-ahead log each. Concurrent
// callers of Update (ten clones at once) share one: the committer takes
// every transaction queued while the previous commit was on its way to
// the disk and runs them, in order, inside one SQLite transaction, each in
// a savepoint so that one that fails is rolled back alone. To each caller
// this is the same as running alone after the ones before it.

type commitRequest struct {
	ctx  context.Context
	fn   func(*Tx) error
	done chan error
}

// maxBatch bounds how many transactions share a commit.
const maxBatch = 64

type committer struct {
	queue    chan commitRequest
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

var errClosed = errors.New("database closed")

func (db *DB) startCommitter() {
	c := &committer{queue: make(chan commitRequest, maxBatch), stop: make(chan struct{})}
	db.committer = c
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			var first commitRequest
			select {
			case <-c.stop:
				c.refuseQueued()
				return
			case first = <-c.queue:
			}
			batch := []commitRequest{first}
		drain:
			for len(batch) < maxBatch {
				select {
				case r := <-c.queue:
					batch = append(batch, r)
				default:
					break drain
				}
			}
			db.commitBatch(batch)
		}
	}()
}

func (db *DB) stopCommitter() {
	if c := db.committer; c != nil {
		c.stopOnce.Do(func() { close(c.stop) })
		c.wg.Wait()
	}
}

// refuseQueued answers what is still queued when the database closes.
func (c *committer) refuseQueued() {
	for {
		select {
		case r := <-c.queue:
			r.done <- errClosed
		default:
			return
		}
	}
}

// enqueue hands fn to the committer and waits for its commit.
func (db *DB) enqueue(ctx context.Context, fn func(*Tx) error) error {
	r := commitRequest{ctx: ctx, fn: fn, done: make(chan error, 1)}
	c := db.committer
	select {
	case c.queue <- r:
	case <-c.stop:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done: // once queued, it runs or is refused; never abandoned
		return err
	case <-c.stop:
		c.wg.Wait() // the committer has answered or will leave it queued
		select {
		case err := <-r.done:
			return err
		default:
			return errClosed
		}
	}
}

// commitBatch runs a batch in one transaction and tells each caller.
func (db *DB) commitBatch(batch []commitRequest) {
	errs := make([]error, len(batch))
	err := db.update(context.Background(), "FULL", func(tx *Tx) error {
		for i, r := range batch {
			if err := r.ctx.Err(); err != nil {
				errs[i] = err
				continue
			}
			errs[i] = tx.savepoint(r.ctx, r.fn)
		}
		return nil
	})
	for i, r := range batch {
		if errs[i] == nil && err != nil {
			errs[i] = err
		}
		r.done <- errs[i]
	}
}

// savepoint runs fn so that, if it fails, its changes alone are undone.
func (tx *Tx) savepoint(ctx context.Context, fn func(*Tx) error) error {
	if _, err := tx.q.ExecContext(ctx, `SAVEPOINT one`); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	if err := fn(tx); err != nil {
		if _, rerr := tx.q.ExecContext(context.Background(), `ROLLBACK TO one`); rerr != nil {
			return fmt.Errorf("%w (and undoing it: %v)", err, rerr)
		}
		_, _ = tx.q.ExecContext(context.Background(), `RELEASE one`)
		return err
	}
	if _, err := tx.q.ExecContext(ctx, `RELEASE one`); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}
