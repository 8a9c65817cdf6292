package snapshot

import (
	"context"
	"fmt"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"

	"github.com/boxlite-ai/boxlitefs/core/qcow2"
	"github.com/boxlite-ai/boxlitefs/metadata"
)

// Clone makes a new stopped box, a copy of this box's current state or of
// one of its snapshots (opts.FromSnapshot). With COW (the default) the new
// box's disks are empty overlays on the source's frozen layers: O(1) in the
// disk size, and the two boxes never see each other's later writes.
func (b *Box) Clone(ctx context.Context, name string, opts CloneOptions) (BoxInfo, error) {
	return b.clone(ctx, name, opts, false)
}

// clone makes the clone; reserved says the caller holds the name's reservation.
func (b *Box) clone(ctx context.Context, name string, opts CloneOptions, reserved bool) (BoxInfo, error) {
	rt := b.rt
	if err := rt.checkNewName(ctx, name, reserved); err != nil {
		return BoxInfo{}, err
	}
	src, err := b.source(ctx, opts.FromSnapshot, true)
	if err != nil {
		return BoxInfo{}, err
	}
	defer rt.unpin(src.pins)
	info, err := rt.cloneFrom(ctx, name, src, opts)
	if err != nil {
		return BoxInfo{}, err
	}
	if opts.StartAfterClone {
		if err := rt.mustBox(info.ID).SetState(ctx, Running); err != nil {
			return info, fmt.Errorf("clone %s made, but start failed: %w", name, err)
		}
		return rt.mustBox(info.ID).Info(ctx)
	}
	return info, nil
}

// freezeCurrent makes sure the box's current state is held by frozen layers:
// if an active layer has data of its own, it is frozen and replaced by an
// empty overlay. Concurrent callers queue on the box's freeze lock and find
// the work done.
func (b *Box) freezeCurrent(ctx context.Context) error {
	rt := b.rt
	e := rt.boxes.entry(b.id)
	e.freeze.Lock()
	defer e.freeze.Unlock()
	if vm := rt.boxes.vm(b.id); vm != nil {
		// Quiesce as the box's snapshot settings say (SPEC 2.5, 2.7).
		settings, err := b.Settings(ctx)
		if err != nil {
			return err
		}
		return rt.freezeRunning(ctx, b, vm, "", settings.Snapshot, nil)
	}
	var bases map[string]string
	if err := rt.db.View(ctx, func(tx *metadata.Tx) error {
		row, err := tx.BoxByID(ctx, b.id)
		if err != nil {
			return err
		}
		if State(row.Status) != Stopped {
			return fmt.Errorf("box %s is %s: %w", row.Name, row.Status, errdefs.ErrBusy)
		}
		bases, err = tx.BoxDisks(ctx, b.id)
		return err
	}); err != nil {
		return err
	}
	for _, d := range AllDisks() {
		_, empty, err := rt.activeShape(rt.lay.active(b.id, d))
		if err != nil {
			return err
		}
		if !empty || bases[string(d)] == "" {
			return rt.freezeBox(ctx, b, freezeRequest{}, nil)
		}
	}
	return nil
}

// cloneFrom makes box name from a pinned frozen state.
func (rt *Runtime) cloneFrom(ctx context.Context, name string, src *sourceState, opts CloneOptions) (BoxInfo, error) {
	id := newID()
	dir := rt.lay.box(id)
	cfg := boxConfig{
		Image: src.config.Image, Settings: src.config.Settings,
		GuestDiskSize: src.sizes[GuestDisk], ContainerDiskSize: src.sizes[ContainerDisk],
		Origin: &Origin{Kind: "clone", Box: src.box.Name, BoxID: src.box.ID, Snapshot: src.snapshot},
	}
	bases := map[Disk]string{}
	var info BoxInfo
	p := plan{Created: []string{rt.lay.rel(dir)}}
	err := rt.mutate(ctx, "box.clone", p, nil, func(m *mutation) error {
		if err := rt.makeBoxDir(id); err != nil {
			return err
		}
		if opts.COW {
			for _, d := range AllDisks() {
				bases[d] = src.layers[d]
			}
		}
		err := eachDisk(func(d Disk) error {
			if opts.COW {
				return rt.createOverlay(rt.lay.active(id, d), src.layers[d], src.sizes[d])
			}
			return rt.copyLayer(ctx, src.layers[d], rt.lay.active(id, d))
		})
		m.step("disks")
		return err
	}, func(tx *metadata.Tx) (err error) {
		info, err = rt.insertBox(ctx, tx, id, name, cfg, bases)
		return err
	})
	if err != nil {
		return BoxInfo{}, err
	}
	rt.publish(BoxesChanged, id)
	return info, nil
}

// copyLayer writes a standalone copy of a frozen layer's whole chain (a
// clone with cow=false).
func (rt *Runtime) copyLayer(ctx context.Context, layer, dst string) error {
	img, err := qcow2.Open(rt.lay.layer(layer), rt.openPolicy())
	if err != nil {
		return err
	}
	defer img.Close()
	return qcow2.WriteFile(ctx, dst, img, qcow2.FlattenOptions{})
}
