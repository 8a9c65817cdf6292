package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/metadata"
)

// GuestBaseSize is the virtual size of the shared guest-rootfs base.
const GuestBaseSize int64 = 2 << 30

// CreateBox makes a new stopped box. Its guest disk is an overlay on a shared
// base in bases/; its container disk is an overlay on a shared empty ext4 of
// the requested size, or, with FromDir, a standalone image of an ext4 filled
// from that directory.
func (rt *Runtime) CreateBox(ctx context.Context, name string, opts CreateOptions) (BoxInfo, error) {
	return rt.createBox(ctx, name, opts, false)
}

// createBox makes a box; reserved says the caller holds the name's
// reservation (a clone target or an import).
func (rt *Runtime) createBox(ctx context.Context, name string, opts CreateOptions, reserved bool) (BoxInfo, error) {
	if err := rt.checkNewName(ctx, name, reserved); err != nil {
		return BoxInfo{}, err
	}
	size := opts.DiskSize
	if size == 0 {
		size = DefaultDiskSize
	}
	if size < 16<<20 || size%512 != 0 {
		return BoxInfo{}, fmt.Errorf("disk size %d: must be a multiple of 512 and at least 16 MiB: %w", size, errdefs.ErrInvalid)
	}
	if opts.FromDir != "" {
		if st, err := os.Stat(opts.FromDir); err != nil || !st.IsDir() {
			return BoxInfo{}, fmt.Errorf("--from-dir %s is not a directory: %w", opts.FromDir, errdefs.ErrInvalid)
		}
	}
	guestBase, err := rt.baseImage(ctx, "guest-rootfs", GuestBaseSize)
	if err != nil {
		return BoxInfo{}, err
	}
	containerBase := ""
	if opts.FromDir == "" {
		if containerBase, err = rt.baseImage(ctx, "ext4", size); err != nil {
			return BoxInfo{}, err
		}
	}
	id := newID()
	cfg := boxConfig{Image: opts.Image, Settings: DefaultSettings(), GuestDiskSize: GuestBaseSize, ContainerDiskSize: size}
	cfg.Origin = &Origin{Kind: "empty"}
	if opts.FromDir != "" {
		cfg.Origin = &Origin{Kind: "directory"}
	}
	dir := rt.lay.box(id)
	p := plan{Created: []string{rt.lay.rel(dir)}}
	var info BoxInfo
	err = rt.mutate(ctx, "box.create", p, nil, func(m *mutation) error {
		if err := rt.makeBoxDir(id); err != nil {
			return err
		}
		if err := rt.createOverlay(rt.lay.active(id, GuestDisk), guestBase, GuestBaseSize); err != nil {
			return err
		}
		m.step("guest disk")
		if opts.FromDir != "" {
			raw := filepath.Join(dir, ".disk.raw")
			if err := makeExt4(ctx, raw, size, "disk", opts.FromDir); err != nil {
				return err
			}
			if err := rt.convertRaw(ctx, raw, rt.lay.active(id, ContainerDisk)); err != nil {
				return err
			}
			return os.Remove(raw)
		}
		return rt.createOverlay(rt.lay.active(id, ContainerDisk), containerBase, size)
	}, func(tx *metadata.Tx) (err error) {
		info, err = rt.insertBox(ctx, tx, id, name, cfg, map[Disk]string{GuestDisk: guestBase, ContainerDisk: containerBase})
		return err
	})
	if err != nil {
		return BoxInfo{}, err
	}
	rt.publish(BoxesChanged, id)
	return info, nil
}

// insertBox writes a new box's rows and describes the box they make, so
// that the caller need not read them back.
func (rt *Runtime) insertBox(ctx context.Context, tx *metadata.Tx, id, name string, cfg boxConfig, bases map[Disk]string) (BoxInfo, error) {
	body, err := json.Marshal(cfg)
	if err != nil {
		return BoxInfo{}, err
	}
	row := metadata.Box{
		ID: id, Name: name, CreatedAt: time.Now(), Config: body,
		Status: string(Stopped), State: []byte("{}"),
	}
	if err := tx.InsertBox(ctx, row); err != nil {
		return BoxInfo{}, err
	}
	for _, d := range AllDisks() {
		if err := tx.SetBoxDisk(ctx, id, string(d), bases[d]); err != nil {
			return BoxInfo{}, err
		}
	}
	return rt.info(row, cfg), nil
}

// checkNewName validates a name for a new box and fails early if it is taken.
func (rt *Runtime) checkNewName(ctx context.Context, name string, reserved bool) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if !reserved && rt.boxes.isReserved(name) {
		return fmt.Errorf("box %q is being made: %w", name, errdefs.ErrExists)
	}
	err := rt.db.View(ctx, func(tx *metadata.Tx) error {
		_, err := tx.BoxByName(ctx, name)
		return err
	})
	switch {
	case err == nil:
		return fmt.Errorf("box %q: %w", name, errdefs.ErrExists)
	case errors.Is(err, errdefs.ErrNotFound):
		return nil
	}
	return err
}

// Box finds a box by name.
func (rt *Runtime) Box(ctx context.Context, name string) (*Box, error) {
	var id string
	err := rt.db.View(ctx, func(tx *metadata.Tx) error {
		b, err := tx.BoxByName(ctx, name)
		id = b.ID
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("box %q: %w", name, err)
	}
	return rt.mustBox(id), nil
}

// BoxByID finds a box by id.
func (rt *Runtime) BoxByID(ctx context.Context, id string) (*Box, error) {
	err := rt.db.View(ctx, func(tx *metadata.Tx) error {
		_, err := tx.BoxByID(ctx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return rt.mustBox(id), nil
}

func (rt *Runtime) mustBox(id string) *Box { return &Box{rt: rt, id: id} }

// ListBoxes describes every box, by name.
func (rt *Runtime) ListBoxes(ctx context.Context) ([]BoxInfo, error) {
	var rows []metadata.Box
	err := rt.db.View(ctx, func(tx *metadata.Tx) error {
		var err error
		rows, err = tx.Boxes(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]BoxInfo, 0, len(rows))
	for _, row := range rows {
		cfg, err := parseConfig(row)
		if err != nil {
			return nil, err
		}
		out = append(out, rt.info(row, cfg))
	}
	return out, nil
}

// RenameBox renames a box. Files are named by id, so only a row changes.
func (rt *Runtime) RenameBox(ctx context.Context, oldName, newName string) error {
	if err := ValidateName(newName); err != nil {
		return err
	}
	if oldName == newName {
		_, err := rt.Box(ctx, oldName)
		return err
	}
	if rt.boxes.isReserved(newName) {
		return fmt.Errorf("box %q is being made: %w", newName, errdefs.ErrExists)
	}
	var id string
	err := rt.db.Update(ctx, func(tx *metadata.Tx) error {
		b, err := tx.BoxByName(ctx, oldName)
		if err != nil {
			return fmt.Errorf("box %q: %w", oldName, err)
		}
		id = b.ID
		return tx.RenameBox(ctx, b.ID, newName)
	})
	if err != nil {
		return err
	}
	rt.publish(BoxesChanged, id)
	return nil
}

// RemoveBox removes a stopped box with its snapshots. Layers its clones
// still use stay in bases/.
func (rt *Runtime) RemoveBox(ctx context.Context, name string) error {
	b, err := rt.Box(ctx, name)
	if err != nil {
		return err
	}
	p := plan{BoxID: b.id, Removes: []string{rt.lay.rel(rt.lay.box(b.id))}}
	lock := &lockRequest{BoxID: b.id, From: []State{Stopped}, To: removing}
	err = rt.mutate(ctx, "box.remove", p, lock, nil, func(tx *metadata.Tx) error {
		return tx.DeleteBox(ctx, b.id)
	})
	if err != nil {
		return err
	}
	rt.publish(BoxesChanged, b.id)
	return rt.collect(ctx)
}

// makeBoxDir makes a new box's directory with its bases link.
func (rt *Runtime) makeBoxDir(id string) error {
	if err := os.Mkdir(rt.lay.box(id), 0o755); err != nil {
		return err
	}
	return os.Symlink(basesLinkTarget, rt.lay.basesLink(id))
}
