package snapshot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/core/qcow2"
	"github.com/boxlite-ai/boxlitefs/metadata"
)

// Snapshots manages one box's snapshots (BoxLite's box.snapshot()).
type Snapshots struct {
	box *Box
}

func snapshotInfo(s metadata.Snapshot) SnapshotInfo {
	return SnapshotInfo{
		ID: s.ID, BoxID: s.BoxID, Name: s.Name, CreatedAt: s.CreatedAt, SizeBytes: s.SizeBytes,
		GuestDiskBytes: s.GuestDiskSizeBytes, ContainerDiskBytes: s.ContainerDiskSizeBytes,
		Consistency: Consistency(s.Consistency),
	}
}

// List describes the box's snapshots, oldest first. It never blocks.
func (s *Snapshots) List(ctx context.Context) ([]SnapshotInfo, error) {
	var rows []metadata.Snapshot
	err := s.box.rt.db.View(ctx, func(tx *metadata.Tx) error {
		if _, err := tx.BoxByID(ctx, s.box.id); err != nil {
			return err
		}
		var err error
		rows, err = tx.Snapshots(ctx, s.box.id)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]SnapshotInfo, 0, len(rows))
	for _, r := range rows {
		out = append(out, snapshotInfo(r))
	}
	return out, nil
}

// Get describes one snapshot; ErrNotFound when there is none.
func (s *Snapshots) Get(ctx context.Context, name string) (SnapshotInfo, error) {
	row, err := s.row(ctx, name)
	return snapshotInfo(row), err
}

func (s *Snapshots) row(ctx context.Context, name string) (metadata.Snapshot, error) {
	var row metadata.Snapshot
	err := s.box.rt.db.View(ctx, func(tx *metadata.Tx) error {
		var err error
		row, err = tx.SnapshotByName(ctx, s.box.id, name)
		return err
	})
	if err != nil {
		return row, fmt.Errorf("snapshot %q: %w", name, err)
	}
	return row, nil
}

// Create takes a snapshot. Of a stopped box, each disk's active layer is
// frozen as it is and a new empty overlay on it becomes active: O(1) in the
// disk's size. A running box is quiesced first (see running.go).
func (s *Snapshots) Create(ctx context.Context, name string, opts SnapshotOptions) (SnapshotInfo, error) {
	b, rt := s.box, s.box.rt
	if err := ValidateName(name); err != nil {
		return SnapshotInfo{}, err
	}
	if _, err := s.row(ctx, name); err == nil {
		return SnapshotInfo{}, fmt.Errorf("snapshot %q: %w", name, errdefs.ErrExists)
	}
	end, err := rt.boxes.beginSnapshot(b.id, name)
	if err != nil {
		return SnapshotInfo{}, err
	}
	defer end()
	// Running or not is known only under the freeze lock: a start or stop
	// holds it until done.
	var out SnapshotInfo
	if vm := rt.boxes.vm(b.id); vm != nil {
		err = rt.freezeRunning(ctx, b, vm, name, opts, &out)
	} else {
		err = rt.freezeBox(ctx, b, freezeRequest{snapshot: name, consistency: Clean}, &out)
	}
	if err != nil {
		return SnapshotInfo{}, err
	}
	rt.publish(SnapshotsChanged, b.id)
	return out, nil
}

// freezeRequest says what a freeze of a box's active layers is for.
type freezeRequest struct {
	snapshot    string                                                    // record a snapshot of this name; "" for a clone's freeze
	consistency Consistency                                               // of the snapshot
	switchDisks func(ctx context.Context, overlays map[Disk]string) error // a running VM's switch; nil when stopped
	// always freezes even an active layer with nothing of its own: readers
	// hold it and a VM is about to write to it.
	always bool
}

// freezeBox freezes each disk's active layer (unless nothing was written to
// it since its last freeze, then its base already is that frozen state) and
// puts a new empty overlay on top. It returns, through out, the snapshot it
// recorded, if any. The caller holds the box's freeze lock.
func (rt *Runtime) freezeBox(ctx context.Context, b *Box, req freezeRequest, out *SnapshotInfo) error {
	tx0 := newID()[:16]
	newLayer := map[Disk]string{}
	for _, d := range AllDisks() {
		newLayer[d] = newID()
	}
	snapID := newID()
	snapStaged := staging(rt.lay.snapshotDir(b.id, req.snapshot), tx0)
	p := plan{BoxID: b.id}
	for _, d := range AllDisks() {
		active := rt.lay.active(b.id, d)
		p.Created = append(p.Created, rt.lay.rel(rt.lay.layer(newLayer[d])), rt.lay.rel(staging(active, tx0)))
		p.Renames = append(p.Renames, rename{From: rt.lay.rel(staging(active, tx0)), To: rt.lay.rel(active)})
		p.ReadOnly = append(p.ReadOnly, rt.lay.rel(rt.lay.layer(newLayer[d])))
	}
	if req.snapshot != "" {
		p.Created = append(p.Created, rt.lay.rel(snapStaged))
		p.Renames = append(p.Renames, rename{From: rt.lay.rel(snapStaged), To: rt.lay.rel(rt.lay.snapshotDir(b.id, req.snapshot))})
	}
	// Without a VM to switch, the active files must be idle: a box running
	// elsewhere (another process, or a boot under way) is busy, not frozen.
	lock := &lockRequest{BoxID: b.id, From: []State{Stopped}, To: Snapshotting}
	if req.switchDisks != nil {
		lock.From = []State{Running}
	}

	held := map[Disk]string{}   // the layer that holds each disk's state now
	sizes := map[Disk]int64{}   // virtual sizes
	var frozen []metadata.Layer // the layers this freeze adds
	var bases map[string]string
	err := rt.mutate(ctx, "snapshot.create", p, lock, func(m *mutation) error {
		var cfg boxConfig
		if err := rt.db.View(ctx, func(tx *metadata.Tx) error {
			row, err := tx.BoxByID(ctx, b.id)
			if err != nil {
				return err
			}
			if cfg, err = parseConfig(row); err != nil {
				return err
			}
			bases, err = tx.BoxDisks(ctx, b.id)
			return err
		}); err != nil {
			return err
		}
		// The disks are independent: each is frozen in its own goroutine.
		var mu sync.Mutex
		overlays := map[Disk]string{}
		froze := map[Disk]metadata.Layer{}
		err := eachDisk(func(d Disk) error {
			active := rt.lay.active(b.id, d)
			// A running VM is writing the active file: do not parse it, freeze it.
			size, empty := cfg.diskSize(d), false
			if req.switchDisks == nil {
				var err error
				if size, empty, err = rt.activeShape(active); err != nil {
					return err
				}
			}
			if empty && bases[string(d)] != "" && !req.always {
				mu.Lock()
				defer mu.Unlock()
				sizes[d], held[d] = size, bases[string(d)]
				return nil
			}
			id := newLayer[d]
			if err := rt.linkLayer(active, id); err != nil {
				return err
			}
			m.step("froze " + string(d))
			st, err := os.Stat(rt.lay.layer(id))
			if err != nil {
				return err
			}
			if err := rt.createOverlay(staging(active, tx0), id, size); err != nil {
				return err
			}
			m.step("overlay " + string(d))
			mu.Lock()
			defer mu.Unlock()
			sizes[d], held[d] = size, id
			overlays[d] = staging(active, tx0)
			froze[d] = metadata.Layer{ID: id, ParentID: bases[string(d)],
				Format: string(qcow2.FormatQcow2), VirtualSize: size, FileSize: st.Size(), CreatedAt: time.Now()}
			return nil
		})
		if err != nil {
			return err
		}
		for _, d := range AllDisks() { // the disks' order, whichever goroutine ended first
			if l, ok := froze[d]; ok {
				frozen = append(frozen, l)
			}
		}
		if req.snapshot != "" {
			if err := os.MkdirAll(rt.lay.snapshotsDir(b.id), 0o755); err != nil {
				return err
			}
			if err := os.Mkdir(snapStaged, 0o755); err != nil {
				return err
			}
			for _, d := range AllDisks() {
				if err := os.Link(rt.lay.layer(held[d]), filepath.Join(snapStaged, d.FileName())); err != nil {
					return err
				}
			}
			m.step("snapshot dir")
		}
		// Last: a VM's switch cannot be undone (an undo would delete the
		// overlays it now writes), so only the commit may fail after it.
		if req.switchDisks != nil && len(overlays) > 0 {
			return req.switchDisks(ctx, overlays)
		}
		return nil
	}, func(tx *metadata.Tx) error {
		for _, l := range frozen {
			if err := tx.InsertLayer(ctx, l); err != nil {
				return err
			}
			if err := tx.SetBoxDisk(ctx, b.id, diskOfLayer(newLayer, l.ID), l.ID); err != nil {
				return err
			}
		}
		if req.snapshot == "" {
			return nil
		}
		var used int64
		for _, l := range frozen {
			used += l.FileSize
		}
		row := metadata.Snapshot{
			ID: snapID, BoxID: b.id, Name: req.snapshot, CreatedAt: time.Now(),
			SnapshotDir:            rt.lay.rel(rt.lay.snapshotDir(b.id, req.snapshot)),
			GuestDiskSizeBytes:     sizes[GuestDisk],
			ContainerDiskSizeBytes: sizes[ContainerDisk],
			SizeBytes:              used,
			Consistency:            string(req.consistency),
			Layers:                 map[string]string{string(GuestDisk): held[GuestDisk], string(ContainerDisk): held[ContainerDisk]},
		}
		if err := tx.InsertSnapshot(ctx, row); err != nil {
			return err
		}
		*out = snapshotInfo(row)
		return nil
	})
	return err
}

func diskOfLayer(layers map[Disk]string, id string) string {
	for d, l := range layers {
		if l == id {
			return string(d)
		}
	}
	return ""
}

// Restore makes the box's disks the snapshot's again: a new empty overlay on
// each of the snapshot's layers becomes active. Only a stopped box; it stays
// stopped. Changes since the snapshot that no other snapshot holds are gone.
func (s *Snapshots) Restore(ctx context.Context, name string) error {
	b, rt := s.box, s.box.rt
	snap, err := s.row(ctx, name)
	if err != nil {
		return err
	}
	tx0 := newID()[:16]
	p := plan{BoxID: b.id}
	for _, d := range AllDisks() {
		active := rt.lay.active(b.id, d)
		p.Created = append(p.Created, rt.lay.rel(staging(active, tx0)))
		p.Renames = append(p.Renames, rename{From: rt.lay.rel(staging(active, tx0)), To: rt.lay.rel(active)})
	}
	lock := &lockRequest{BoxID: b.id, From: []State{Stopped}, To: Restoring}
	err = rt.mutate(ctx, "snapshot.restore", p, lock, func(m *mutation) error {
		for _, d := range AllDisks() {
			if err := rt.createOverlay(staging(rt.lay.active(b.id, d), tx0), snap.Layers[string(d)], snapshotDiskSize(snap, d)); err != nil {
				return err
			}
			m.step("overlay " + string(d))
		}
		return nil
	}, func(tx *metadata.Tx) error {
		if _, err := tx.SnapshotByName(ctx, b.id, name); err != nil {
			return err // removed meanwhile
		}
		for _, d := range AllDisks() {
			if err := tx.SetBoxDisk(ctx, b.id, string(d), snap.Layers[string(d)]); err != nil {
				return err
			}
		}
		return rt.updateConfig(ctx, tx, b.id, func(cfg *boxConfig) error {
			cfg.GuestDiskSize, cfg.ContainerDiskSize = snap.GuestDiskSizeBytes, snap.ContainerDiskSizeBytes
			return nil
		})
	})
	if err != nil {
		return err
	}
	rt.publish(BoxChanged, b.id)
	return rt.collect(ctx)
}

// Remove deletes a snapshot of a stopped box. Its layers stay as long as the
// box, later snapshots or clones are built on them.
func (s *Snapshots) Remove(ctx context.Context, name string) error {
	b, rt := s.box, s.box.rt
	snap, err := s.row(ctx, name)
	if err != nil {
		return err
	}
	p := plan{BoxID: b.id, Removes: []string{rt.lay.rel(rt.lay.snapshotDir(b.id, name))}}
	lock := &lockRequest{BoxID: b.id, From: []State{Stopped}, To: Snapshotting}
	err = rt.mutate(ctx, "snapshot.remove", p, lock, nil, func(tx *metadata.Tx) error {
		return tx.DeleteSnapshot(ctx, snap.ID)
	})
	if err != nil {
		return err
	}
	rt.publish(SnapshotsChanged, b.id)
	return rt.collect(ctx)
}

// Rename renames a snapshot.
func (s *Snapshots) Rename(ctx context.Context, oldName, newName string) error {
	b, rt := s.box, s.box.rt
	if err := ValidateName(newName); err != nil {
		return err
	}
	snap, err := s.row(ctx, oldName)
	if err != nil {
		return err
	}
	if oldName == newName {
		return nil
	}
	if _, err := s.row(ctx, newName); err == nil {
		return fmt.Errorf("snapshot %q: %w", newName, errdefs.ErrExists)
	}
	to := rt.lay.snapshotDir(b.id, newName)
	p := plan{BoxID: b.id, Renames: []rename{{From: rt.lay.rel(rt.lay.snapshotDir(b.id, oldName)), To: rt.lay.rel(to)}}}
	lock := &lockRequest{BoxID: b.id, From: []State{Stopped, Running}, To: Snapshotting}
	err = rt.mutate(ctx, "snapshot.rename", p, lock, nil, func(tx *metadata.Tx) error {
		return tx.RenameSnapshot(ctx, snap.ID, newName, rt.lay.rel(to))
	})
	if err != nil {
		return err
	}
	rt.publish(SnapshotsChanged, b.id)
	return nil
}

// updateConfig edits a box's configuration inside a transaction.
func (rt *Runtime) updateConfig(ctx context.Context, tx *metadata.Tx, boxID string, edit func(*boxConfig) error) error {
	row, err := tx.BoxByID(ctx, boxID)
	if err != nil {
		return err
	}
	cfg, err := parseConfig(row)
	if err != nil {
		return err
	}
	if err := edit(&cfg); err != nil {
		return err
	}
	body, err := marshalConfig(cfg)
	if err != nil {
		return err
	}
	return tx.SetBoxConfig(ctx, boxID, body)
}

func snapshotDiskSize(s metadata.Snapshot, d Disk) int64 {
	if d == GuestDisk {
		return s.GuestDiskSizeBytes
	}
	return s.ContainerDiskSizeBytes
}
