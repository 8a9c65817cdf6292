package metadata

import (
	"context"
	"time"
)

// Snapshot is a row of box_snapshot (BoxLite's columns) with the engine's
// additions: its consistency and the layer that holds each disk.
type Snapshot struct {
	ID                     string
	BoxID                  string
	Name                   string
	CreatedAt              time.Time
	SnapshotDir            string
	GuestDiskSizeBytes     int64
	ContainerDiskSizeBytes int64
	SizeBytes              int64
	Consistency            string
	Layers                 map[string]string // disk -> layer id
}

const snapshotColumns = `s.id, s.box_id, s.name, s.created_at, s.snapshot_dir,
	s.guest_disk_size_bytes, s.container_disk_size_bytes, s.size_bytes, coalesce(i.consistency, 'clean')`

const snapshotFrom = ` FROM box_snapshot s LEFT JOIN snapshot_info i ON i.snapshot_id = s.id`

func scanSnapshot(row interface{ Scan(...any) error }) (Snapshot, error) {
	var s Snapshot
	var created int64
	err := row.Scan(&s.ID, &s.BoxID, &s.Name, &created, &s.SnapshotDir,
		&s.GuestDiskSizeBytes, &s.ContainerDiskSizeBytes, &s.SizeBytes, &s.Consistency)
	s.CreatedAt = time.Unix(created, 0).UTC()
	return s, err
}

// InsertSnapshot adds a snapshot and its layer references. A taken name is ErrExists.
func (tx *Tx) InsertSnapshot(ctx context.Context, s Snapshot) error {
	_, err := tx.q.ExecContext(ctx,
		`INSERT INTO box_snapshot (id, box_id, name, created_at, snapshot_dir,
			guest_disk_size_bytes, container_disk_size_bytes, size_bytes)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.BoxID, s.Name, s.CreatedAt.Unix(), s.SnapshotDir,
		s.GuestDiskSizeBytes, s.ContainerDiskSizeBytes, s.SizeBytes)
	if err != nil {
		return mapErr(err, "snapshot "+s.Name)
	}
	if _, err := tx.q.ExecContext(ctx,
		`INSERT INTO snapshot_info (snapshot_id, consistency) VALUES (?, ?)`, s.ID, s.Consistency); err != nil {
		return mapErr(err, "snapshot info "+s.Name)
	}
	for disk, layer := range s.Layers {
		if _, err := tx.q.ExecContext(ctx,
			`INSERT INTO snapshot_layer (snapshot_id, disk, layer_id) VALUES (?, ?, ?)`,
			s.ID, disk, layer); err != nil {
			return mapErr(err, "snapshot layer "+s.Name+"/"+disk)
		}
	}
	return nil
}

// SnapshotByName finds one snapshot of a box, with its layers.
func (tx *Tx) SnapshotByName(ctx context.Context, boxID, name string) (Snapshot, error) {
	s, err := scanSnapshot(tx.q.QueryRowContext(ctx,
		`SELECT `+snapshotColumns+snapshotFrom+` WHERE s.box_id = ? AND s.name = ?`, boxID, name))
	if err != nil {
		return Snapshot{}, mapErr(err, "snapshot "+name)
	}
	s.Layers, err = tx.snapshotLayers(ctx, s.ID)
	return s, err
}

// Snapshots lists a box's snapshots, oldest first, with their layers.
func (tx *Tx) Snapshots(ctx context.Context, boxID string) ([]Snapshot, error) {
	rows, err := tx.q.QueryContext(ctx,
		`SELECT `+snapshotColumns+snapshotFrom+` WHERE s.box_id = ? ORDER BY s.created_at, s.rowid`, boxID)
	if err != nil {
		return nil, mapErr(err, "list snapshots")
	}
	defer rows.Close()
	var out []Snapshot
	index := map[string]int{}
	for rows.Next() {
		s, err := scanSnapshot(rows)
		if err != nil {
			return nil, mapErr(err, "list snapshots")
		}
		s.Layers = map[string]string{}
		index[s.ID] = len(out)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err, "list snapshots")
	}
	lrows, err := tx.q.QueryContext(ctx,
		`SELECT l.snapshot_id, l.disk, l.layer_id FROM snapshot_layer l
		 JOIN box_snapshot s ON s.id = l.snapshot_id WHERE s.box_id = ?`, boxID)
	if err != nil {
		return nil, mapErr(err, "list snapshot layers")
	}
	defer lrows.Close()
	for lrows.Next() {
		var id, disk, layer string
		if err := lrows.Scan(&id, &disk, &layer); err != nil {
			return nil, mapErr(err, "list snapshot layers")
		}
		if i, ok := index[id]; ok {
			out[i].Layers[disk] = layer
		}
	}
	return out, mapErr(lrows.Err(), "list snapshot layers")
}

func (tx *Tx) snapshotLayers(ctx context.Context, snapshotID string) (map[string]string, error) {
	rows, err := tx.q.QueryContext(ctx,
		`SELECT disk, layer_id FROM snapshot_layer WHERE snapshot_id = ?`, snapshotID)
	if err != nil {
		return nil, mapErr(err, "snapshot layers")
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var disk, layer string
		if err := rows.Scan(&disk, &layer); err != nil {
			return nil, mapErr(err, "snapshot layers")
		}
		out[disk] = layer
	}
	return out, mapErr(rows.Err(), "snapshot layers")
}

// RenameSnapshot renames a snapshot and records its new directory.
func (tx *Tx) RenameSnapshot(ctx context.Context, id, name, dir string) error {
	return tx.exec1(ctx, "rename snapshot "+id,
		`UPDATE box_snapshot SET name = ?, snapshot_dir = ? WHERE id = ?`, name, dir, id)
}

// SetSnapshotDir records a snapshot's directory (after its box is renamed or moved).
func (tx *Tx) SetSnapshotDir(ctx context.Context, id, dir string) error {
	return tx.exec1(ctx, "snapshot dir "+id, `UPDATE box_snapshot SET snapshot_dir = ? WHERE id = ?`, dir, id)
}

// DeleteSnapshot removes a snapshot row and its layer references.
func (tx *Tx) DeleteSnapshot(ctx context.Context, id string) error {
	return tx.exec1(ctx, "delete snapshot "+id, `DELETE FROM box_snapshot WHERE id = ?`, id)
}

// LayerLink is where a snapshot directory links a layer's file.
type LayerLink struct {
	BoxID, Snapshot, Disk string
}

// LinksOf lists the snapshot disks a layer holds.
func (tx *Tx) LinksOf(ctx context.Context, layerID string) ([]LayerLink, error) {
	rows, err := tx.q.QueryContext(ctx,
		`SELECT s.box_id, s.name, l.disk FROM snapshot_layer l JOIN box_snapshot s ON s.id = l.snapshot_id
		 WHERE l.layer_id = ?`, layerID)
	if err != nil {
		return nil, mapErr(err, "links of "+layerID)
	}
	defer rows.Close()
	var out []LayerLink
	for rows.Next() {
		var k LayerLink
		if err := rows.Scan(&k.BoxID, &k.Snapshot, &k.Disk); err != nil {
			return nil, mapErr(err, "links of "+layerID)
		}
		out = append(out, k)
	}
	return out, mapErr(rows.Err(), "links of "+layerID)
}
