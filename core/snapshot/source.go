package snapshot

import (
	"context"
	"fmt"

	"github.com/boxlite-ai/boxlitefs/metadata"
)

// sourceState is a point-in-time box state that clones, exports and disk
// reads start from: a snapshot, or the box's current state.
type sourceState struct {
	box      metadata.Box
	config   boxConfig
	snapshot string          // "" for the box's current state
	layers   map[Disk]string // the frozen layer each disk sits on
	top      map[Disk]string // the file to open for each disk
	sizes    map[Disk]int64  // virtual sizes
	pins     []string        // held until release
	// activeOf is the box whose active files top is, registered as read
	// (boxRegistry.readActive) until release; "" when top is all frozen.
	activeOf string
}

// source pins the layers holding a snapshot or the box's current state.
//
// Only a running VM writes to an active layer, so the active file of a
// stopped box is itself a point-in-time state: a reader opens it directly
// (a restore replaces the file by rename, and the reader keeps the old one;
// a start moves the VM to new overlays first, see start).
// When frozen is set (clones, which must share immutable layers) or the box
// is running, the active layers are frozen first. Callers release the
// state.
func (b *Box) source(ctx context.Context, snapshot string, frozen bool) (*sourceState, error) {
	rt := b.rt
	if snapshot == "" && !frozen && !rt.boxes.readActive(b.id) {
		frozen = true // a VM writes the active files
	}
	if snapshot == "" && frozen {
		if err := b.freezeCurrent(ctx); err != nil {
			return nil, err
		}
		frozen = true
	}
	st := &sourceState{snapshot: snapshot, layers: map[Disk]string{}, top: map[Disk]string{}, sizes: map[Disk]int64{}}
	if snapshot == "" && !frozen {
		st.activeOf = b.id
	}
	pins, err := rt.pinned(ctx, func(tx *metadata.Tx) ([]string, error) {
		row, err := tx.BoxByID(ctx, b.id)
		if err != nil {
			return nil, err
		}
		st.box = row
		if st.config, err = parseConfig(row); err != nil {
			return nil, err
		}
		if snapshot != "" {
			s, err := tx.SnapshotByName(ctx, b.id, snapshot)
			if err != nil {
				return nil, fmt.Errorf("snapshot %q: %w", snapshot, err)
			}
			for _, d := range AllDisks() {
				st.layers[d] = s.Layers[string(d)]
				st.sizes[d] = snapshotDiskSize(s, d)
			}
		} else {
			bases, err := tx.BoxDisks(ctx, b.id)
			if err != nil {
				return nil, err
			}
			for _, d := range AllDisks() {
				st.layers[d] = bases[string(d)]
			}
			st.sizes[GuestDisk], st.sizes[ContainerDisk] = st.config.GuestDiskSize, st.config.ContainerDiskSize
		}
		return []string{st.layers[GuestDisk], st.layers[ContainerDisk]}, nil
	})
	if err != nil {
		rt.release(st)
		return nil, err
	}
	st.pins = pins
	for _, d := range AllDisks() {
		switch {
		case snapshot == "" && !frozen:
			st.top[d] = rt.lay.active(b.id, d)
		case st.layers[d] == "":
			rt.release(st)
			return nil, fmt.Errorf("box %s: disk %s has no frozen layer", st.box.Name, d)
		default:
			st.top[d] = rt.lay.layer(st.layers[d])
		}
	}
	return st, nil
}

// release gives back what source took: its pins, and its hold on the active
// files.
func (rt *Runtime) release(st *sourceState) {
	rt.unpin(st.pins)
	if st.activeOf != "" {
		rt.boxes.doneActive(st.activeOf)
	}
}
