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
	src  *sourceState // released by Close when the view owns it
	once sync.Once

	// The standalone image is planned at the first read: a copy by
	// reference (clone, adopt) never needs it, and the size of an unchanged
	// file is known from earlier views.
	top      string
	key      sizeKey // the top file's identity; keyOK when it is known
	keyOK    bool
	planOnce sync.Once
	flat     *qcow2.Flat
	planErr  error
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
	before, ok1 := sizeKeyOf(src.top[d])
	img, err := qcow2.Open(src.top[d], rt.openPolicy())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", d, err)
	}
	after, ok2 := sizeKeyOf(src.top[d])
	return &DiskView{
		rt:    rt,
		ref:   DiskRef{BoxID: src.box.ID, Snapshot: src.snapshot, Disk: d, Layer: layer},
		img:   img,
		top:   src.top[d],
		key:   after,
		keyOK: ok1 && ok2 && before == after, // the file opened is the one identified
	}, nil
}

// plan lays out the standalone image, once.
func (v *DiskView) plan() (*qcow2.Flat, error) {
	v.planOnce.Do(func() {
		v.flat, v.planErr = qcow2.Flatten(context.Background(), v.img, qcow2.FlattenOptions{})
		if v.planErr != nil {
			v.planErr = fmt.Errorf("flatten %s: %w", v.ref.Disk, v.planErr)
			return
		}
		if v.keyOK {
			v.rt.sizes.rememberKey(v.key, v.ref.BoxID, v.ref.Snapshot, v.ref.Disk, v.flat.Size())
		}
	})
	return v.flat, v.planErr
}

// Ref says where the view came from.
func (v *DiskView) Ref() DiskRef { return v.ref }

// Size is the exact size of the standalone image (0 if it cannot be laid
// out; reads then say why).
func (v *DiskView) Size() int64 {
	if v.keyOK {
		if size, ok := v.rt.sizes.get(v.key); ok {
			return size
		}
	}
	f, err := v.plan()
	if err != nil {
		return 0
	}
	return f.Size()
}

// ReadAt reads any range of the standalone image.
func (v *DiskView) ReadAt(p []byte, off int64) (int, error) {
	f, err := v.plan()
	if err != nil {
		return 0, err
	}
	return f.ReadAt(p, off)
}

// WriteTo streams the whole standalone image, reading each data cluster once.
func (v *DiskView) WriteTo(ctx context.Context, w io.Writer) (int64, error) {
	f, err := v.plan()
	if err != nil {
		return 0, err
	}
	return f.WriteToContext(ctx, w)
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
