package qcow2

import (
	"context"
	"errors"
	"io"
	"sync"
)

// LayerInfo describes one file of a chain.
type LayerInfo struct {
	Path          string // absolute and clean
	Format        Format
	Size          int64 // virtual size (raw: file size)
	ClusterSize   int   // 0 for raw
	Version       int   // qcow2 version; 0 for raw
	BackingFile   string
	BackingFormat Format
}

// ExtentKind is what a range of the guest disk is.
type ExtentKind uint8

const (
	// Unallocated: no layer says anything; reads as zeros.
	Unallocated ExtentKind = iota
	// Zero: a layer says the range reads as zeros (a zero cluster, or the
	// part of an overlay beyond the end of a shorter backing file).
	Zero
	// Data: a layer stores the bytes.
	Data
)

func (k ExtentKind) String() string {
	switch k {
	case Unallocated:
		return "unallocated"
	case Zero:
		return "zero"
	case Data:
		return "data"
	}
	return "invalid"
}

// Extent is a range of the guest disk and the layer that decides its content.
type Extent struct {
	Offset, Length int64
	Kind           ExtentKind
	Layer          int // index into Layers(); -1 when unallocated in every layer
}

// Source is what Flatten reads; *Image implements it.
type Source interface {
	io.ReaderAt
	Size() int64
	// Extents calls fn with consecutive extents covering [off, off+length)
	// clipped to Size, adjacent equal extents coalesced.
	Extents(ctx context.Context, off, length int64, fn func(Extent) error) error
}

// Image is an open chain of layers: a qcow2 file and its backing files, or a
// raw file. It is safe for concurrent use.
type Image struct {
	layers []layer
	cache  *l2Cache
	size   int64

	closeOnce sync.Once
	closeErr  error
}

var _ Source = (*Image)(nil)

// Size is the virtual size of the top layer.
func (img *Image) Size() int64 { return img.size }

// Layers describes the chain; index 0 is the file that was opened.
func (img *Image) Layers() []LayerInfo {
	infos := make([]LayerInfo, len(img.layers))
	for i, l := range img.layers {
		infos[i] = l.info()
	}
	return infos
}

// Close closes every file of the chain.
func (img *Image) Close() error {
	img.closeOnce.Do(func() {
		var errs []error
		for _, l := range img.layers {
			errs = append(errs, l.close())
		}
		img.closeErr = errors.Join(errs...)
	})
	return img.closeErr
}

// clip limits [off, off+length) to the disk, refusing negative arguments.
func (img *Image) clip(off, length int64) (int64, error) {
	if off < 0 || length < 0 {
		return 0, errInvalid("negative offset %d or length %d", off, length)
	}
	if off >= img.size {
		return 0, nil
	}
	return min(length, img.size-off), nil
}

// ReadAt reads the guest disk through the chain.
func (img *Image) ReadAt(p []byte, off int64) (int, error) {
	n, err := img.clip(off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	err = img.mapped(off, n, func(s segment, li int) error {
		dst := p[s.off-off : s.off-off+s.length]
		if s.kind == clusterZero || s.kind == clusterUnallocated {
			clear(dst)
			return nil
		}
		return img.layers[li].read(dst, s, s.off)
	})
	if err != nil {
		return 0, err
	}
	if n < int64(len(p)) {
		return int(n), io.EOF
	}
	return int(n), nil
}

// Extents reports the allocation map of [off, off+length) without reading
// any data: which layer decides each range, and whether it holds data or
// zeros.
func (img *Image) Extents(ctx context.Context, off, length int64, fn func(Extent) error) error {
	n, err := img.clip(off, length)
	if err != nil || n == 0 {
		return err
	}
	out := coalescer{fn: fn}
	segments := 0
	err = img.resolve(0, off, n, true, func(s segment, li int) error {
		if segments++; segments%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return out.add(Extent{Offset: s.off, Length: s.length, Kind: extentKind(s.kind), Layer: li})
	})
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return out.flush()
}

// coalescer merges adjacent equal extents before passing them on.
type coalescer struct {
	pending Extent
	fn      func(Extent) error
}

func (c *coalescer) add(e Extent) error {
	p := &c.pending
	if p.Length > 0 && p.Kind == e.Kind && p.Layer == e.Layer && p.Offset+p.Length == e.Offset {
		p.Length += e.Length
		return nil
	}
	if err := c.flush(); err != nil {
		return err
	}
	c.pending = e
	return nil
}

func (c *coalescer) flush() error {
	if c.pending.Length == 0 {
		return nil
	}
	e := c.pending
	c.pending = Extent{}
	return c.fn(e)
}

// Top returns a view of the top n layers of img: its content is img's, but
// its Extents report as Unallocated every range that layer n or a deeper one
// decides. Flattening it with BackingFile naming Layers()[n] writes the top
// n layers as one overlay of layer n.
func (img *Image) Top(n int) Source { return topView{img: img, n: n} }

type topView struct {
	img *Image
	n   int
}

func (v topView) Size() int64                             { return v.img.Size() }
func (v topView) ReadAt(p []byte, off int64) (int, error) { return v.img.ReadAt(p, off) }

func (v topView) Extents(ctx context.Context, off, length int64, fn func(Extent) error) error {
	out := coalescer{fn: fn}
	err := v.img.Extents(ctx, off, length, func(e Extent) error {
		if e.Layer < 0 || e.Layer >= v.n {
			e.Kind, e.Layer = Unallocated, -1
		}
		return out.add(e)
	})
	if err != nil {
		return err
	}
	return out.flush()
}

func extentKind(k clusterKind) ExtentKind {
	switch k {
	case clusterZero:
		return Zero
	case clusterData, clusterCompressed:
		return Data
	}
	return Unallocated
}

// resolve calls fn with consecutive segments covering [off, off+n) as the
// chain from layer i down sees them, with the index of the layer that
// decides each (-1 when none does). A range a layer leaves unallocated is
// looked up in the next layer only for that range, and a layer whose L1
// entry is empty answers for its whole table at once, so deep chains of
// small overlays cost little per read.
func (img *Image) resolve(i int, off, n int64, precise bool, fn func(segment, int) error) error {
	if i == len(img.layers) {
		return fn(segment{off: off, length: n}, -1)
	}
	l := img.layers[i]
	if size := l.virtualSize(); off+n > size {
		// A backing file shorter than its overlay: the rest reads as zeros.
		tail := max(off, size)
		if tail > off {
			if err := img.resolve(i, off, tail-off, precise, fn); err != nil {
				return err
			}
		}
		return fn(segment{off: tail, length: off + n - tail, kind: clusterZero}, i)
	}
	return l.mapRange(off, n, precise, func(s segment) error {
		if s.kind == clusterUnallocated {
			return img.resolve(i+1, s.off, s.length, precise, fn)
		}
		return fn(s, i)
	})
}
