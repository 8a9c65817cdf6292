package metadata

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// Box is a row of box_config joined with its box_state.
type Box struct {
	ID        string
	Name      string
	CreatedAt time.Time
	Config    []byte // JSON owned by the engine (image, settings, origin)
	Status    string
	State     []byte // JSON owned by the engine
}

const boxColumns = `c.id, c.name, c.created_at, c.json, s.status, s.json`

const boxFrom = ` FROM box_config c JOIN box_state s ON s.id = c.id`

func scanBox(row interface{ Scan(...any) error }) (Box, error) {
	var b Box
	var created int64
	var config, state string
	if err := row.Scan(&b.ID, &b.Name, &created, &config, &b.Status, &state); err != nil {
		return Box{}, err
	}
	b.CreatedAt = time.Unix(created, 0).UTC()
	b.Config, b.State = []byte(config), []byte(state)
	return b, nil
}

// InsertBox adds a box with its state row. A taken name is ErrExists.
func (tx *Tx) InsertBox(ctx context.Context, b Box) error {
	_, err := tx.q.ExecContext(ctx,
		`INSERT INTO box_config (id, name, created_at, json) VALUES (?, ?, ?, ?)`,
		b.ID, b.Name, b.CreatedAt.Unix(), string(b.Config))
	if err != nil {
		return mapErr(err, "box "+b.Name)
	}
	_, err = tx.q.ExecContext(ctx,
		`INSERT INTO box_state (id, status, json) VALUES (?, ?, ?)`, b.ID, b.Status, string(b.State))
	return mapErr(err, "box state "+b.Name)
}

// BoxByName finds a box; ErrNotFound when there is none.
func (tx *Tx) BoxByName(ctx context.Context, name string) (Box, error) {
	b, err := scanBox(tx.q.QueryRowContext(ctx, `SELECT `+boxColumns+boxFrom+` WHERE c.name = ?`, name))
	return b, mapErr(err, "box "+name)
}

// BoxByID finds a box; ErrNotFound when there is none.
func (tx *Tx) BoxByID(ctx context.Context, id string) (Box, error) {
	b, err := scanBox(tx.q.QueryRowContext(ctx, `SELECT `+boxColumns+boxFrom+` WHERE c.id = ?`, id))
	return b, mapErr(err, "box id "+id)
}

// Boxes lists every box by name.
func (tx *Tx) Boxes(ctx context.Context) ([]Box, error) {
	rows, err := tx.q.QueryContext(ctx, `SELECT `+boxColumns+boxFrom+` ORDER BY c.name`)
	if err != nil {
		return nil, mapErr(err, "list boxes")
	}
	defer rows.Close()
	var out []Box
	for rows.Next() {
		b, err := scanBox(rows)
		if err != nil {
			return nil, mapErr(err, "list boxes")
		}
		out = append(out, b)
	}
	return out, mapErr(rows.Err(), "list boxes")
}

// RenameBox renames a box; a taken name is ErrExists.
func (tx *Tx) RenameBox(ctx context.Context, id, name string) error {
	return tx.exec1(ctx, "rename box "+id, `UPDATE box_config SET name = ? WHERE id = ?`, name, id)
}

// SetBoxConfig replaces a box's configuration JSON.
func (tx *Tx) SetBoxConfig(ctx context.Context, id string, config []byte) error {
	return tx.exec1(ctx, "box config "+id, `UPDATE box_config SET json = ? WHERE id = ?`, string(config), id)
}

// DeleteBox removes a box; its state, disks and snapshots go with it (cascade).
func (tx *Tx) DeleteBox(ctx context.Context, id string) error {
	return tx.exec1(ctx, "delete box "+id, `DELETE FROM box_config WHERE id = ?`, id)
}

// SetStatus moves a box to status only if its current status is one of
// from; it reports whether it did. This is the cross-process lock on a box.
func (tx *Tx) SetStatus(ctx context.Context, id, status string, state []byte, from ...string) (bool, error) {
	query := `UPDATE box_state SET status = ?, json = ? WHERE id = ?`
	args := []any{status, string(state), id}
	if len(from) > 0 {
		query += ` AND status IN (?` + strings.Repeat(",?", len(from)-1) + `)`
		for _, f := range from {
			args = append(args, f)
		}
	}
	res, err := tx.q.ExecContext(ctx, query, args...)
	if err != nil {
		return false, mapErr(err, "set status "+id)
	}
	n, err := res.RowsAffected()
	return n == 1, mapErr(err, "set status "+id)
}

// BoxDisks returns each disk's base layer id ("" when the active file stands alone).
func (tx *Tx) BoxDisks(ctx context.Context, boxID string) (map[string]string, error) {
	rows, err := tx.q.QueryContext(ctx, `SELECT disk, base_layer_id FROM box_disk WHERE box_id = ?`, boxID)
	if err != nil {
		return nil, mapErr(err, "box disks "+boxID)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var disk string
		var layer sql.NullString
		if err := rows.Scan(&disk, &layer); err != nil {
			return nil, mapErr(err, "box disks "+boxID)
		}
		out[disk] = layer.String
	}
	return out, mapErr(rows.Err(), "box disks "+boxID)
}

// SetBoxDisk records the base layer of a box's disk ("" for none).
func (tx *Tx) SetBoxDisk(ctx context.Context, boxID, disk, baseLayer string) error {
	_, err := tx.q.ExecContext(ctx,
		`INSERT INTO box_disk (box_id, disk, base_layer_id) VALUES (?, ?, ?)
		 ON CONFLICT (box_id, disk) DO UPDATE SET base_layer_id = excluded.base_layer_id`,
		boxID, disk, nullString(baseLayer))
	return mapErr(err, "box disk "+boxID+"/"+disk)
}

// exec1 runs a statement that must change exactly one row.
func (tx *Tx) exec1(ctx context.Context, what, query string, args ...any) error {
	res, err := tx.q.ExecContext(ctx, query, args...)
	if err != nil {
		return mapErr(err, what)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return mapErr(err, what)
	}
	if n == 0 {
		return mapErr(sql.ErrNoRows, what)
	}
	return nil
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
