package metadata

import (
	"context"
	"time"
)

// Journal is an intent record: a mutation's plan, written before its files
// are touched, so that recovery can undo or finish it after a crash.
type Journal struct {
	ID        string
	Owner     string // the runtime instance that wrote it
	Kind      string
	State     string // "prepared" or "committed"
	Plan      []byte // JSON owned by the engine
	CreatedAt time.Time
}

// Journal states.
const (
	Prepared  = "prepared"
	Committed = "committed"
)

// InsertJournal records a prepared mutation.
func (tx *Tx) InsertJournal(ctx context.Context, j Journal) error {
	_, err := tx.q.ExecContext(ctx,
		`INSERT INTO journal (id, owner, kind, state, plan, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		j.ID, j.Owner, j.Kind, j.State, string(j.Plan), j.CreatedAt.Unix())
	return mapErr(err, "journal "+j.ID)
}

// MarkCommitted flips a journal record to committed, in the same transaction
// as the rows the mutation changes.
func (tx *Tx) MarkCommitted(ctx context.Context, id string) error {
	return tx.exec1(ctx, "journal "+id, `UPDATE journal SET state = 'committed' WHERE id = ?`, id)
}

// DeleteJournal forgets a finished mutation.
func (tx *Tx) DeleteJournal(ctx context.Context, id string) error {
	return tx.exec1(ctx, "journal "+id, `DELETE FROM journal WHERE id = ?`, id)
}

// Journals lists every record, oldest first.
func (tx *Tx) Journals(ctx context.Context) ([]Journal, error) {
	rows, err := tx.q.QueryContext(ctx,
		`SELECT id, owner, kind, state, plan, created_at FROM journal ORDER BY created_at, rowid`)
	if err != nil {
		return nil, mapErr(err, "list journal")
	}
	defer rows.Close()
	var out []Journal
	for rows.Next() {
		var j Journal
		var plan string
		var created int64
		if err := rows.Scan(&j.ID, &j.Owner, &j.Kind, &j.State, &plan, &created); err != nil {
			return nil, mapErr(err, "list journal")
		}
		j.Plan = []byte(plan)
		j.CreatedAt = time.Unix(created, 0).UTC()
		out = append(out, j)
	}
	return out, mapErr(rows.Err(), "list journal")
}
