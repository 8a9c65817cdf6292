// Package metadata is the engine's SQLite database: BoxLite's tables
// (box_config, box_state, box_snapshot, schema_version) and the engine's own
// (layer, box_disk, snapshot_layer, snapshot_info, base_image, journal).
//
// It knows rows, not policy: core/snapshot decides what the rows mean.
package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"

	"github.com/mattn/go-sqlite3"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// DB is an open metadata database. Writes go through one connection (they
// serialize in SQLite anyway, and queueing in Go is cheaper than busy-waiting);
// reads use a pool and never wait for writers (WAL).
type DB struct {
	write     *sql.DB
	read      *sql.DB
	committer *committer
}

// Open opens (creating if needed) the database at path and migrates it to
// the current schema. A database newer than this program is refused.
func Open(ctx context.Context, path string) (*DB, error) {
	write, err := sql.Open("sqlite3", dsn(path, "immediate"))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	db := &DB{write: write}
	if err := migrate(ctx, write); err != nil {
		write.Close()
		return nil, err
	}
	read, err := sql.Open("sqlite3", dsn(path, "deferred"))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	read.SetMaxOpenConns(8)
	db.read = read
	db.startCommitter()
	return db, nil
}

// dsn asks for WAL, foreign keys, a busy timeout for other processes,
// synchronous=FULL (a commit is durable before the engine deletes anything
// that the commit made obsolete), and a cache of prepared statements per
// connection: preparing each statement anew cost more than running it.
func dsn(path, txlock string) string {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", "10000")
	q.Set("_synchronous", "FULL")
	q.Set("_txlock", txlock)
	q.Set("_stmt_cache_size", "128")
	return "file:" + path + "?" + q.Encode()
}

// Close closes the database.
func (db *DB) Close() error {
	db.stopCommitter()
	var errs []error
	if db.read != nil {
		errs = append(errs, db.read.Close())
	}
	errs = append(errs, db.write.Close())
	return errors.Join(errs...)
}

// Update runs fn in a write transaction, committing its changes when fn
// returns nil, and undoing them when it returns an error. The commit is
// durable when Update returns; concurrent Updates share it (groupcommit.go).
func (db *DB) Update(ctx context.Context, fn func(*Tx) error) error {
	return db.enqueue(ctx, fn)
}

// UpdateRelaxed is Update without waiting for the disk: a power failure
// (not a crash of the process) may lose the transaction, never half of it,
// and the next durable commit makes it durable too. For changes that
// recovery can undo or redo, such as a mutation's intent record.
func (db *DB) UpdateRelaxed(ctx context.Context, fn func(*Tx) error) error {
	return db.update(ctx, "NORMAL", fn)
}

// update sets the writer connection's synchronous mode for this transaction
// only: every transaction states its own, so none inherits another's.
func (db *DB) update(ctx context.Context, synchronous string, fn func(*Tx) error) error {
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = `+synchronous); err != nil {
		return fmt.Errorf("synchronous: %w", err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	return commit(tx, fn)
}

func commit(tx *sql.Tx, fn func(*Tx) error) error {
	if err := fn(&Tx{q: tx}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// View runs fn in one read transaction: a consistent snapshot of the
// database that never blocks writers.
func (db *DB) View(ctx context.Context, fn func(*Tx) error) error {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	return fn(&Tx{q: tx})
}

// Tx is a transaction; its methods are the database's queries.
type Tx struct {
	q *sql.Tx
}

// mapErr turns constraint failures into the engine's error classes.
func mapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, errdefs.ErrNotFound)
	}
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrConstraint {
		switch se.ExtendedCode {
		case sqlite3.ErrConstraintUnique, sqlite3.ErrConstraintPrimaryKey:
			return fmt.Errorf("%s: %w", what, errdefs.ErrExists)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}
