package qcow2

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sort"
)

// FlattenOptions shapes the image Flatten plans.
type FlattenOptions struct {
	// ClusterBits of the output; 0 = 16 (64 KiB clusters).
	ClusterBits int
	// BackingFile, if set, makes the output an overlay of it (a "diff"):
	// ranges Unallocated in the source stay unallocated. The source's
	// ReadAt must then return what the overlay should show everywhere,
	// since an output cluster that mixes unallocated and allocated ranges
	// is stored whole.
	BackingFile string
	// BackingFormat is written as the backing-format header extension.
	BackingFormat Format
	// NoSync: WriteFile does not sync the file and its directory entry.
	NoSync bool
}

// Flat is a planned qcow2 v3 image holding a source's content. Its layout is
// fixed; its bytes are generated on demand, the same bytes every time.
// Metadata is computed from the layout; data clusters are read from the
// source. It is safe for concurrent use if the source is.
type Flat struct {
	src  Source
	lay  *layout
	opts FlattenOptions
}

// Flatten plans one qcow2 v3 image holding src's content. It reads src's
// allocation map, not its data; memory grows with the number of extents,
// not with the disk.
func Flatten(ctx context.Context, src Source, opts FlattenOptions) (*Flat, error) {
	bits, err := opts.clusterBits()
	if err != nil {
		return nil, err
	}
	if err := opts.checkBacking(); err != nil {
		return nil, err
	}
	runs, data, err := planRuns(ctx, src, bits, opts.BackingFile != "")
	if err != nil {
		return nil, err
	}
	lay, err := newLayout(alignUp(src.Size(), sectorSize), bits, runs, data, opts.BackingFile, opts.BackingFormat)
	if err != nil {
		return nil, err
	}
	return &Flat{src: src, lay: lay, opts: opts}, nil
}

func (o FlattenOptions) clusterBits() (uint, error) {
	switch {
	case o.ClusterBits == 0:
		return defaultClusterBits, nil
	case o.ClusterBits < minClusterBits || o.ClusterBits > maxClusterBits:
		return 0, errInvalid("cluster bits %d out of range %d..%d", o.ClusterBits, minClusterBits, maxClusterBits)
	}
	return uint(o.ClusterBits), nil
}

func (o FlattenOptions) checkBacking() error {
	switch {
	case len(o.BackingFile) > maxBackingNameLen:
		return errInvalid("backing file name of %d bytes is over %d", len(o.BackingFile), maxBackingNameLen)
	case bytes.IndexByte([]byte(o.BackingFile), 0) >= 0:
		return errInvalid("backing file name contains NUL")
	case o.BackingFile == "" && o.BackingFormat != "":
		return errInvalid("backing format %q without a backing file", o.BackingFormat)
	case o.BackingFormat != "" && o.BackingFormat != FormatQcow2 && o.BackingFormat != FormatRaw:
		return errInvalid("backing format %q", o.BackingFormat)
	}
	return nil
}

// Size is the exact length of the image file.
func (f *Flat) Size() int64 { return f.lay.size() }

// ReadAt generates bytes [off, off+len(p)) of the image file.
func (f *Flat) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errInvalid("negative offset %d", off)
	}
	size := f.Size()
	if off >= size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), size-off)
	lay := f.lay
	regions := [...]struct {
		end  int64
		fill func(dst []byte, rel int64) error
	}{
		{lay.cluster, lay.fillHeader},
		{lay.refTableOff, lay.fillL1},
		{lay.refBlockOff, lay.fillRefTable},
		{lay.l2Off, lay.fillRefBlocks},
		{lay.dataOff, lay.fillL2},
		{size, f.fillData},
	}
	start := int64(0)
	for _, r := range regions {
		if lo, hi := max(off, start), min(off+n, r.end); lo < hi {
			if err := r.fill(p[lo-off:hi-off], lo-start); err != nil {
				return int(lo - off), err
			}
		}
		start = max(start, r.end)
	}
	if n < int64(len(p)) {
		return int(n), io.EOF
	}
	return int(n), nil
}

func (lay *layout) fillHeader(dst []byte, rel int64) error {
	clear(dst)
	if rel < int64(len(lay.header)) {
		copy(dst, lay.header[rel:])
	}
	return nil
}

// fillTable writes bytes [rel, rel+len(dst)) of a table of big-endian
// entries of width bytes; value is called for increasing entry indices below
// count, and every entry from count on is zero. Most of a new image's tables
// are zero: clearing them in bulk keeps creating an overlay cheap.
func fillTable(dst []byte, rel, width, count int64, value func(i int64) uint64) {
	var tmp [8]byte
	first := rel / width
	if end := count*width - rel; end < int64(len(dst)) {
		clear(dst[max(0, end):])
		dst = dst[:max(0, end)]
	}
	for i := first; ; i++ {
		pos := i*width - rel
		if pos >= int64(len(dst)) {
			return
		}
		v := value(i)
		if width == 2 {
			binary.BigEndian.PutUint16(tmp[:], uint16(v))
		} else {
			binary.BigEndian.PutUint64(tmp[:], v)
		}
		if pos >= 0 {
			copy(dst[pos:], tmp[:width])
		} else {
			copy(dst, tmp[-pos:width])
		}
	}
}

func (lay *layout) fillL1(dst []byte, rel int64) error {
	k := sort.Search(len(lay.tables), func(k int) bool { return lay.tables[k].first+lay.tables[k].count > rel/8 })
	var count int64 // past the last L1 entry that points to a table
	if n := len(lay.tables); n > 0 {
		count = min(lay.l1Entries, lay.tables[n-1].first+lay.tables[n-1].count)
	}
	fillTable(dst, rel, 8, count, func(i int64) uint64 {
		for k < len(lay.tables) && lay.tables[k].first+lay.tables[k].count <= i {
			k++
		}
		if k == len(lay.tables) || lay.tables[k].first > i || i >= lay.l1Entries {
			return 0
		}
		t := lay.tables[k]
		return uint64(lay.l2Off+(t.ordinal+i-t.first)*lay.cluster) | entryCopied
	})
	return nil
}

func (lay *layout) fillRefTable(dst []byte, rel int64) error {
	fillTable(dst, rel, 8, lay.refBlocks, func(i int64) uint64 {
		return uint64(lay.refBlockOff + i*lay.cluster)
	})
	return nil
}

func (lay *layout) fillRefBlocks(dst []byte, rel int64) error {
	fillTable(dst, rel, 2, lay.clusters, func(int64) uint64 { return 1 })
	return nil
}

// fillL2 writes L2 tables; table t maps the guest clusters of the L1 index
// that the t-th table belongs to.
func (lay *layout) fillL2(dst []byte, rel int64) error {
	entries := lay.cluster / 8
	k := -1 // cursor into lay.runs
	table, firstGuest := int64(-1), int64(0)
	fillTable(dst, rel, 8, math.MaxInt64/8, func(i int64) uint64 {
		if t := i / entries; t != table {
			table, firstGuest = t, lay.tableL1Index(t)*entries
		}
		g := firstGuest + i%entries // guest cluster
		if k < 0 {
			k = runAt(lay.runs, g)
		}
		for k < len(lay.runs) && lay.runs[k].first+lay.runs[k].count <= g {
			k++
		}
		if k == len(lay.runs) || lay.runs[k].first > g {
			return 0
		}
		r := lay.runs[k]
		if r.kind == Zero {
			return entryZero
		}
		return uint64(lay.dataOff+(r.ordinal+g-r.first)*lay.cluster) | entryCopied
	})
	return nil
}

// tableL1Index returns the L1 index of the t-th L2 table.
func (lay *layout) tableL1Index(t int64) int64 {
	k := sort.Search(len(lay.tables), func(k int) bool { return lay.tables[k].ordinal+lay.tables[k].count > t })
	tr := lay.tables[k]
	return tr.first + t - tr.ordinal
}

// fillData reads data clusters from the source; consecutive clusters of a
// run are one read.
func (f *Flat) fillData(dst []byte, rel int64) error {
	lay := f.lay
	k := sort.Search(len(lay.data), func(k int) bool { return lay.data[k].ordinal+lay.data[k].count > rel>>lay.bits })
	for ; len(dst) > 0 && k < len(lay.data); k++ {
		r := lay.data[k]
		within := rel - r.ordinal<<lay.bits
		n := min(int64(len(dst)), r.count<<lay.bits-within)
		if err := readSource(f.src, dst[:n], r.first<<lay.bits+within); err != nil {
			return err
		}
		dst, rel = dst[n:], rel+n
	}
	if len(dst) > 0 {
		return fmt.Errorf("qcow2: flat: data area ends before offset %d", rel)
	}
	return nil
}

// readSource reads p at off of src; the part past its end reads as zeros
// (the last cluster of a disk whose size is not a cluster multiple).
func readSource(src Source, p []byte, off int64) error {
	n, err := src.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == io.EOF || (err == nil && off+int64(n) >= src.Size()) {
		clear(p[n:])
		return nil
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("qcow2: read source at %d: %w", off, err)
}
