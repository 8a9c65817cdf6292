package snapshot

import (
	"bytes"
	"context"

	"github.com/boxlite-ai/boxlitefs/core/qcow2"
)

// diffSource presents an image as an overlay of a base: ranges whose content
// equals the base's are reported Unallocated (so they fall through to the
// base), everything else keeps its kind. Flattening it with the base as
// backing file stores only what differs.
type diffSource struct {
	img, base *qcow2.Image
	chunk     int64
}

func newDiffSource(img, base *qcow2.Image) *diffSource {
	return &diffSource{img: img, base: base, chunk: 64 << 10}
}

func (s *diffSource) Size() int64                             { return s.img.Size() }
func (s *diffSource) ReadAt(p []byte, off int64) (int, error) { return s.img.ReadAt(p, off) }

func (s *diffSource) Extents(ctx context.Context, off, length int64, fn func(qcow2.Extent) error) error {
	a := make([]byte, s.chunk)
	b := make([]byte, s.chunk)
	var pending *qcow2.Extent
	emit := func(e qcow2.Extent) error {
		if pending != nil && pending.Kind == e.Kind && pending.Offset+pending.Length == e.Offset {
			pending.Length += e.Length
			return nil
		}
		if pending != nil {
			if err := fn(*pending); err != nil {
				return err
			}
		}
		pending = &e
		return nil
	}
	compare := func(e qcow2.Extent) error {
		for pos := e.Offset; pos < e.Offset+e.Length; {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := min(s.chunk-pos%s.chunk, e.Offset+e.Length-pos)
			same, err := s.sameAsBase(a[:n], b[:n], pos, e.Kind)
			if err != nil {
				return err
			}
			kind := e.Kind
			if same {
				kind = qcow2.Unallocated
			} else if kind == qcow2.Unallocated {
				kind = qcow2.Zero // reads as zeros here, but the base has data
			}
			if err := emit(qcow2.Extent{Offset: pos, Length: n, Kind: kind, Layer: -1}); err != nil {
				return err
			}
			pos += n
		}
		return nil
	}
	err := s.img.Extents(ctx, off, length, func(e qcow2.Extent) error {
		if e.Kind == qcow2.Data {
			return compare(e)
		}
		// Zeros here equal the base wherever the base has no data either:
		// only the base's data is read, not the whole virtual disk.
		return s.base.Extents(ctx, e.Offset, e.Length, func(be qcow2.Extent) error {
			if be.Kind != qcow2.Data {
				return emit(qcow2.Extent{Offset: be.Offset, Length: be.Length, Kind: qcow2.Unallocated, Layer: -1})
			}
			return compare(qcow2.Extent{Offset: be.Offset, Length: be.Length, Kind: e.Kind})
		})
	})
	if err != nil {
		return err
	}
	if pending != nil {
		return fn(*pending)
	}
	return nil
}

// sameAsBase compares one range of the image (of the given kind) with the base.
func (s *diffSource) sameAsBase(a, b []byte, off int64, kind qcow2.ExtentKind) (bool, error) {
	if _, err := s.base.ReadAt(b, off); err != nil {
		return false, err
	}
	if kind != qcow2.Data {
		return isZero(b), nil
	}
	if _, err := s.img.ReadAt(a, off); err != nil {
		return false, err
	}
	return bytes.Equal(a, b), nil
}

func isZero(p []byte) bool {
	for len(p) >= 8 {
		if p[0]|p[1]|p[2]|p[3]|p[4]|p[5]|p[6]|p[7] != 0 {
			return false
		}
		p = p[8:]
	}
	for _, c := range p {
		if c != 0 {
			return false
		}
	}
	return true
}
