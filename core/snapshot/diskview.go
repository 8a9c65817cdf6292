package snapshot

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/boxlite-ai/boxlitefs/core/qcow2"
)

// DiskView is a point-in-time, read-only view of one disk as a standalone
// qcow2 file (SPEC 2.2): the whole chain flattened, generated on demand,
// with an exact size and random access. It holds its layers until Close.
type DiskView struct {
	rt   *Runtime
	ref  DiskRef
	img  *qcow2.Image
	flat *qcow2.Flat
	src  *sourceState // released by Close when the view owns it
	once sync.Once
}

// DiskRef names where a disk view came from; a clone or a copy between disk
// files uses it to share the layer instead of copying bytes.
type DiskRef struct {
	BoxID    string
	Snapshot string // "" for the box's current state
	Disk     Disk
	Layer    string // the frozen layer holding this state; "" when it is an active file
}

// OpenDisk opens a view of the box's current disk; it stays what it was
// whatever happens to the box meanwhile (see source).
func (b *Box) OpenDisk(ctx context.Context, d Disk) (*DiskView, error) {
	return b.openView(ctx, "", d)
}

// OpenDisk opens a view of one disk of a snapshot.
func (s *Snapshots) OpenDisk(ctx context.Context, name string, d Disk) (*DiskView, error) {
	return s.box.openView(ctx, name, d)
}

func (b *Box) openView(ctx context.Context, snapshot string, d Disk) (*DiskView, error) {
	src, err := b.source(ctx, snapshot, false)
	if err != nil {
		return nil, err
	}
	v, err := b.rt.viewOf(ctx, src, d)
	if err != nil {
		b.rt.release(src)
		return nil, err
	}
	v.src = src
	return v, nil
}

// viewOf opens the view of one disk of a pinned state. The caller releases
// the state unless it hands it to the view (v.src).
func (rt *Runtime) viewOf(ctx context.Context, src *sourceState, d Disk) (*DiskView, error) {
	layer := src.layers[d]
	if layer == "" || src.top[d] != rt.lay.layer(layer) {
		layer = "" // the active file is the top: no frozen layer holds this state
	}
	img, err := qcow2.Open(src.top[d], rt.openPolicy())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", d, err)
	}
	flat, err := qcow2.Flatten(ctx, img, qcow2.FlattenOptions{})
	if err != nil {
		img.Close()
		return nil, fmt.Errorf("flatten %s: %w", d, err)
	}
	rt.sizes.remember(src.top[d], src.box.ID, src.snapshot, d, flat.Size())
	return &DiskView{
		rt:   rt,
		ref:  DiskRef{BoxID: src.box.ID, Snapshot: src.snapshot, Disk: d, Layer: layer},
		img:  img,
		flat: flat,
	}, nil
}

// Ref says where the view came from.
func (v *DiskView) Ref() DiskRef { return v.ref }

// Size is the exact size of the standalone image.
func (v *DiskView) Size() int64 { return v.flat.Size() }

// ReadAt reads any range of the standalone image.
func (v *DiskView) ReadAt(p []byte, off int64) (int, error) { return v.flat.ReadAt(p, off) }

// WriteTo streams the whole standalone image, reading each data cluster once.
func (v *DiskView) WriteTo(ctx context.Context, w io.Writer) (int64, error) {
	return v.flat.WriteToContext(ctx, w)
}

// Close releases the view's files and layers.
func (v *DiskView) Close() error {
	var err error
	v.once.Do(func() {
		err = v.img.Close()
		if v.src != nil {
			v.rt.release(v.src)
		}
	})
	return err
}
