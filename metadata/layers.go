package metadata

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// Layer is a frozen file in bases/.
type Layer struct {
	ID          string
	ParentID    string // "" for a layer with no backing file
	Format      string // "qcow2" or "raw"
	VirtualSize int64
	FileSize    int64
	CreatedAt   time.Time
}

func scanLayer(row interface{ Scan(...any) error }) (Layer, error) {
	var l Layer
	var parent sql.NullString
	var created int64
	err := row.Scan(&l.ID, &parent, &l.Format, &l.VirtualSize, &l.FileSize, &created)
	l.ParentID = parent.String
	l.CreatedAt = time.Unix(created, 0).UTC()
	return l, err
}

const layerColumns = `id, parent_id, format, virtual_size, file_size, created_at`

// InsertLayer records a frozen layer.
func (tx *Tx) InsertLayer(ctx context.Context, l Layer) error {
	_, err := tx.q.ExecContext(ctx,
		`INSERT INTO layer (`+layerColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		l.ID, nullString(l.ParentID), l.Format, l.VirtualSize, l.FileSize, l.CreatedAt.Unix())
	return mapErr(err, "layer "+l.ID)
}

// Layer finds one layer.
func (tx *Tx) Layer(ctx context.Context, id string) (Layer, error) {
	l, err := scanLayer(tx.q.QueryRowContext(ctx, `SELECT `+layerColumns+` FROM layer WHERE id = ?`, id))
	return l, mapErr(err, "layer "+id)
}

// Layers lists every layer.
func (tx *Tx) Layers(ctx context.Context) ([]Layer, error) {
	return tx.queryLayers(ctx, `SELECT `+layerColumns+` FROM layer ORDER BY id`)
}

// liveLayers is every layer some box, snapshot or base image holds,
// directly or as an ancestor.
const liveLayers = `WITH RECURSIVE live(id) AS (
	SELECT base_layer_id FROM box_disk WHERE base_layer_id IS NOT NULL
	UNION SELECT layer_id FROM snapshot_layer
	UNION SELECT layer_id FROM base_image
	UNION SELECT l.parent_id FROM layer l JOIN live ON l.id = live.id WHERE l.parent_id IS NOT NULL
)`

// DeadLayers lists the layers nothing holds any more, children before
// parents so they can be deleted in order.
func (tx *Tx) DeadLayers(ctx context.Context) ([]Layer, error) {
	dead, err := tx.queryLayers(ctx, liveLayers+
		` SELECT `+layerColumns+` FROM layer WHERE id NOT IN (SELECT id FROM live)`)
	if err != nil {
		return nil, err
	}
	return childrenFirst(dead), nil
}

// DeleteLayer removes a layer row; its children must be gone first.
func (tx *Tx) DeleteLayer(ctx context.Context, id string) error {
	return tx.exec1(ctx, "delete layer "+id, `DELETE FROM layer WHERE id = ?`, id)
}

// BaseImage finds the shared base layer of a kind and size ("" when none).
func (tx *Tx) BaseImage(ctx context.Context, kind string, size int64) (string, error) {
	var id string
	err := tx.q.QueryRowContext(ctx,
		`SELECT layer_id FROM base_image WHERE kind = ? AND virtual_size = ?`, kind, size).Scan(&id)
	if err == sql.ErrNoRows {
		return "", nil
	}
	return id, mapErr(err, "base image "+kind)
}

// SetBaseImage records the shared base layer of a kind and size.
func (tx *Tx) SetBaseImage(ctx context.Context, kind string, size int64, layerID string) error {
	_, err := tx.q.ExecContext(ctx,
		`INSERT INTO base_image (kind, virtual_size, layer_id) VALUES (?, ?, ?)`, kind, size, layerID)
	return mapErr(err, "base image "+kind)
}

func (tx *Tx) queryLayers(ctx context.Context, query string, args ...any) ([]Layer, error) {
	rows, err := tx.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, mapErr(err, "list layers")
	}
	defer rows.Close()
	var out []Layer
	for rows.Next() {
		l, err := scanLayer(rows)
		if err != nil {
			return nil, mapErr(err, "list layers")
		}
		out = append(out, l)
	}
	return out, mapErr(rows.Err(), "list layers")
}

// childrenFirst orders layers so that no layer comes before a child of it
// that is also in the list.
func childrenFirst(layers []Layer) []Layer {
	children := map[string]int{}
	for _, l := range layers {
		if l.ParentID != "" {
			children[l.ParentID]++
		}
	}
	byID := map[string]Layer{}
	for _, l := range layers {
		byID[l.ID] = l
	}
	var out, ready []Layer
	for _, l := range layers {
		if children[l.ID] == 0 {
			ready = append(ready, l)
		}
	}
	for len(ready) > 0 {
		l := ready[0]
		ready = ready[1:]
		out = append(out, l)
		if p, ok := byID[l.ParentID]; ok {
			children[p.ID]--
			if children[p.ID] == 0 {
				ready = append(ready, p)
			}
		}
	}
	return out
}

// Merge is a pair of layers that can become one: Lower is held by nothing
// but its only child Upper (no box, snapshot or base image names it).
type Merge struct {
	Lower, Upper Layer
}

// Merges lists the layers that can be merged into their only child.
func (tx *Tx) Merges(ctx context.Context) ([]Merge, error) {
	rows, err := tx.q.QueryContext(ctx, `
		SELECT `+prefixed("l")+`, `+prefixed("c")+`
		FROM layer l JOIN layer c ON c.parent_id = l.id
		WHERE l.id NOT IN (SELECT base_layer_id FROM box_disk WHERE base_layer_id IS NOT NULL)
		  AND l.id NOT IN (SELECT layer_id FROM snapshot_layer)
		  AND l.id NOT IN (SELECT layer_id FROM base_image)
		  AND (SELECT count(*) FROM layer k WHERE k.parent_id = l.id) = 1
		ORDER BY l.created_at, l.id`)
	if err != nil {
		return nil, mapErr(err, "list merges")
	}
	defer rows.Close()
	var out []Merge
	for rows.Next() {
		var m Merge
		var lp, cp sql.NullString
		var lc, cc int64
		if err := rows.Scan(&m.Lower.ID, &lp, &m.Lower.Format, &m.Lower.VirtualSize, &m.Lower.FileSize, &lc,
			&m.Upper.ID, &cp, &m.Upper.Format, &m.Upper.VirtualSize, &m.Upper.FileSize, &cc); err != nil {
			return nil, mapErr(err, "list merges")
		}
		m.Lower.ParentID, m.Upper.ParentID = lp.String, cp.String
		m.Lower.CreatedAt, m.Upper.CreatedAt = time.Unix(lc, 0).UTC(), time.Unix(cc, 0).UTC()
		out = append(out, m)
	}
	return out, mapErr(rows.Err(), "list merges")
}

func prefixed(alias string) string {
	cols := strings.Split(layerColumns, ", ")
	for i, c := range cols {
		cols[i] = alias + "." + c
	}
	return strings.Join(cols, ", ")
}

// Rebase records that layer id's file now backs onto parent ("" for none)
// and has a new size on disk.
func (tx *Tx) Rebase(ctx context.Context, id, parent string, fileSize int64) error {
	return tx.exec1(ctx, "rebase layer "+id,
		`UPDATE layer SET parent_id = ?, file_size = ? WHERE id = ?`, nullString(parent), fileSize, id)
}
