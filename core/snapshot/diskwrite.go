package snapshot

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/core/qcow2"
)

// DiskWriter receives a whole image, qcow2 or raw, written sequentially from
// offset 0, to replace one disk of a stopped box ("bring your own disk",
// SPEC 2.2). Nothing changes until Commit verifies it.
type DiskWriter struct {
	box     *Box
	disk    Disk
	f       *os.File
	written int64
	mu      sync.Mutex
}

// NewDiskWriter starts receiving a new image for disk d.
func (b *Box) NewDiskWriter(ctx context.Context, d Disk) (*DiskWriter, error) {
	if _, err := b.requireStatus(ctx, Stopped); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(b.rt.lay.tmp(), "disk-")
	if err != nil {
		return nil, err
	}
	return &DiskWriter{box: b, disk: d, f: f}, nil
}

// WriteAt appends p; anything but the next sequential offset is ErrInvalid,
// since only a whole image written from the start can replace a disk.
func (w *DiskWriter) WriteAt(p []byte, off int64) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if off != w.written {
		return 0, fmt.Errorf("write at %d, expected %d: a disk file takes a whole image written from offset 0: %w",
			off, w.written, errdefs.ErrInvalid)
	}
	n, err := w.f.WriteAt(p, off)
	w.written += int64(n)
	return n, err
}

// Abort drops what was written.
func (w *DiskWriter) Abort() {
	w.f.Close()
	os.Remove(w.f.Name())
}

// Commit verifies the image and makes it the disk (see vetImage for what is
// accepted; a raw image is converted). The image becomes a frozen layer
// with a new empty overlay on it, so the box's snapshots and clones are
// untouched.
func (w *DiskWriter) Commit(ctx context.Context) error {
	defer w.Abort()
	b, rt := w.box, w.box.rt
	if w.written == 0 {
		return fmt.Errorf("no image was written: %w", errdefs.ErrInvalid)
	}
	if err := w.f.Sync(); err != nil {
		return err
	}
	// Verified before anything is made in bases/: a refused image leaves
	// nothing behind, not even a directory.
	format, err := vetImage(w.f, w.written)
	if err != nil {
		return err
	}
	layer, err := rt.storeLayer(ctx, "", func(final string) error {
		if format == qcow2.FormatQcow2 {
			return os.Link(w.f.Name(), final) // standalone and clean: kept as written
		}
		return rt.convertRaw(ctx, w.f.Name(), final)
	})
	if err != nil {
		return err
	}
	defer rt.unpin([]string{layer.ID})
	return b.adoptLayer(ctx, w.disk, layer.ID, layer.VirtualSize)
}

// AdoptDisk makes disk d of this stopped box a copy-on-write copy of another
// disk state (what copy_file_range between two disk files of the mount
// does): O(1), no data is copied.
func (b *Box) AdoptDisk(ctx context.Context, d Disk, from DiskRef) error {
	rt := b.rt
	srcBox, err := rt.BoxByID(ctx, from.BoxID)
	if err != nil {
		return err
	}
	src, err := srcBox.source(ctx, from.Snapshot, true)
	if err != nil {
		return err
	}
	defer rt.unpin(src.pins)
	return b.adoptLayer(ctx, d, src.layers[from.Disk], src.sizes[from.Disk])
}
