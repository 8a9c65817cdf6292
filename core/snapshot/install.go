package snapshot

import (
	"context"
	"os"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/qcow2"
	"github.com/boxlite-ai/boxlitefs/metadata"
)

// storeLayer makes a new frozen layer: build writes the file at final (its
// backing file, if any, must be parent's backingName). The layer is returned
// pinned: nothing holds it yet, so the caller attaches it (adoptLayer, a
// snapshot) and then unpins it.
func (rt *Runtime) storeLayer(ctx context.Context, parent string, build func(final string) error) (metadata.Layer, error) {
	id := newID()
	final := rt.lay.layer(id)
	rt.pin(id)
	var layer metadata.Layer
	p := plan{Created: []string{rt.lay.rel(final)}}
	err := rt.mutate(ctx, "layer.store", p, nil, func(m *mutation) error {
		if err := os.MkdirAll(rt.lay.layerDir(id), 0o755); err != nil {
			return err
		}
		if err := build(final); err != nil {
			return err
		}
		size, _, err := diskShape(final)
		if err != nil {
			return err
		}
		st, err := os.Stat(final)
		if err != nil {
			return err
		}
		if err := os.Chmod(final, 0o444); err != nil {
			return err
		}
		layer = metadata.Layer{ID: id, ParentID: parent, Format: string(qcow2.FormatQcow2),
			VirtualSize: size, FileSize: st.Size(), CreatedAt: time.Now()}
		return nil
	}, func(tx *metadata.Tx) error {
		return tx.InsertLayer(ctx, layer)
	})
	if err != nil {
		rt.unpin([]string{id})
		return metadata.Layer{}, err
	}
	return layer, nil
}

func (rt *Runtime) pin(id string) { rt.layers.pin(id) }

// adoptLayer makes disk d of a stopped box a new empty overlay on a frozen
// layer: O(1), the box's snapshots and clones are untouched.
func (b *Box) adoptLayer(ctx context.Context, d Disk, layer string, size int64) error {
	rt := b.rt
	tx0 := newID()[:16]
	active := rt.lay.active(b.id, d)
	p := plan{BoxID: b.id,
		Created: []string{rt.lay.rel(staging(active, tx0))},
		Renames: []rename{{From: rt.lay.rel(staging(active, tx0)), To: rt.lay.rel(active)}},
	}
	lock := &lockRequest{BoxID: b.id, From: []State{Stopped}, To: Restoring}
	err := rt.mutate(ctx, "disk.adopt", p, lock, func(m *mutation) error {
		return rt.createOverlay(staging(active, tx0), layer, size)
	}, func(tx *metadata.Tx) error {
		if err := tx.SetBoxDisk(ctx, b.id, string(d), layer); err != nil {
			return err
		}
		return rt.updateConfig(ctx, tx, b.id, func(cfg *boxConfig) error {
			cfg.setDiskSize(d, size)
			return nil
		})
	})
	if err != nil {
		return err
	}
	rt.publish(BoxChanged, b.id)
	return rt.collect(ctx)
}
