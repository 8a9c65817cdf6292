package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/core/qcow2"
	"github.com/boxlite-ai/boxlitefs/metadata"
)

// qcow2Magic starts every qcow2 image; anything else is taken as raw.
const qcow2Magic = "QFI\xfb"

// vetImage says whether a whole disk image written into the mount (a disk
// file replaced, a disk copied into clones/) is one we accept, before
// anything is stored: a qcow2 must be standalone and clean; anything else
// is taken as a raw image, whose size must be a multiple of 512.
func vetImage(f *os.File, size int64) (qcow2.Format, error) {
	head := make([]byte, len(qcow2Magic))
	n, err := f.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	if n == len(head) && string(head) == qcow2Magic {
		return qcow2.FormatQcow2, (imageVetter{}).Verify(f, size)
	}
	if size == 0 || size%512 != 0 {
		return "", fmt.Errorf("a raw image must be a whole number of 512-byte sectors, got %d bytes: %w", size, errdefs.ErrInvalid)
	}
	return qcow2.FormatRaw, nil
}

// storeStagedLocked stores a vetted disk of the copy as a frozen layer, an
// overlay of the layer of the disk it should equal (only what differs is
// stored), and gives it to the box: as one of its disks, or as a part of a
// copied snapshot.
func (ct *CloneTarget) storeStagedLocked(ctx context.Context, d heldDisk) error {
	role := d.role
	var parent string
	var parentPins []string
	if from := ct.compareWithLocked(role); from != nil {
		if src, err := ct.rt.mustBox(from.BoxID).source(ctx, from.Snapshot, true); err == nil {
			parent, parentPins = src.layers[role.disk], src.pins
		}
	}
	defer ct.rt.unpin(parentPins)
	layer, err := ct.rt.storeReceived(ctx, d.f, d.format, parent)
	if err != nil {
		return err
	}
	if role.snapshot != "" {
		return ct.addPartLocked(ctx, role.snapshot, role.disk, pendingPart{layer: layer.ID, size: layer.VirtualSize}, ct.sourceLocked())
	}
	defer ct.rt.unpin([]string{layer.ID})
	if ct.boxID == "" {
		if err := ct.bindLocked(ctx, ct.sourceLocked()); err != nil {
			return err
		}
	}
	return ct.rt.mustBox(ct.boxID).adoptLayer(ctx, role.disk, layer.ID, layer.VirtualSize)
}

// storeReceived stores a vetted image a copy wrote as a frozen layer: only
// what differs from parent when there is one of the same size. The layer
// is returned pinned, as storeLayer's.
func (rt *Runtime) storeReceived(ctx context.Context, f *os.File, format qcow2.Format, parent string) (metadata.Layer, error) {
	img, err := qcow2.Open(f.Name(), qcow2.OpenOptions{Format: format})
	if err != nil {
		return metadata.Layer{}, err
	}
	defer img.Close()
	var base *qcow2.Image
	if parent != "" {
		if base, err = qcow2.Open(rt.lay.layer(parent), rt.openPolicy()); err != nil {
			return metadata.Layer{}, err
		}
		defer base.Close()
		if base.Size() != img.Size() {
			parent = ""
		}
	}
	return rt.storeLayer(ctx, parent, func(final string) error {
		if parent == "" {
			return qcow2.WriteFile(ctx, final, img, qcow2.FlattenOptions{})
		}
		return qcow2.WriteFile(ctx, final, newDiffSource(img, base),
			qcow2.FlattenOptions{BackingFile: backingName(parent), BackingFormat: qcow2.FormatQcow2})
	})
}
