package qcow2

import (
	"context"
	"io"
	"math"
)

// Info describes one qcow2 file, as Inspect found it.
type Info struct {
	Version, ClusterBits int
	VirtualSize          int64
	FileSize             int64
	BackingFile          string
	BackingFormat        Format
	CompressionType      string // "zlib" (deflate) or "zstd"
	RefcountBits         int
	Snapshots            int // internal snapshots
	// Clusters the active and snapshot tables reference.
	DataClusters, ZeroClusters, CompressedClusters int64
	// Leaks are clusters with a refcount but no reference: wasted space,
	// harmless to data.
	Leaks int
}

// Inspect parses the header of the qcow2 file in ra (size bytes) and
// validates all its tables against the file, without following any backing
// file: every L1, L2 and refcount entry must point inside the file, and the
// refcounts must cover every reference (Check finds no corruption). It
// refuses what Open refuses. It is meant to vet untrusted images; it reads
// every table once and allocates no more than the file justifies.
func Inspect(ra io.ReaderAt, size int64) (*Info, error) {
	h, err := parseReadableHeader(ra, size)
	if err != nil {
		return nil, err
	}
	k, err := check(context.Background(), ra, size, h)
	if err != nil {
		return nil, err
	}
	res := k.res
	if res.Corruptions > 0 {
		return nil, errCorrupt("tables are inconsistent (%d problems; the first: %s)", res.Corruptions, k.firstCorruption)
	}
	return &Info{
		Version: h.version, ClusterBits: int(h.clusterBits), VirtualSize: h.virtualSize, FileSize: size,
		BackingFile: h.backingFile, BackingFormat: Format(h.backingFormat), CompressionType: h.compressionName(),
		RefcountBits: 1 << h.refcountOrder, Snapshots: int(h.nbSnapshots),
		DataClusters: res.DataClusters, ZeroClusters: res.ZeroClusters, CompressedClusters: res.CompressedClusters,
		Leaks: res.Leaks,
	}, nil
}

// ParseHeader reads what the first bytes of a qcow2 file say, with Open's
// feature policy, without the rest of the file: for vetting an image that
// arrives as a stream before any of it is stored. Bytes past head read as
// zeros (so extensions beyond it end the list); table offsets are checked
// only for alignment and overflow, since the file's size is not known yet.
func ParseHeader(head []byte) (*Info, error) {
	if len(head) < v2HeaderLength {
		return nil, errCorrupt("%d bytes are too short for a qcow2 header", len(head))
	}
	h, err := parseReadableHeader(zeroPadded(head), math.MaxInt64/2)
	if err != nil {
		return nil, err
	}
	return &Info{
		Version: h.version, ClusterBits: int(h.clusterBits), VirtualSize: h.virtualSize,
		BackingFile: h.backingFile, BackingFormat: Format(h.backingFormat), CompressionType: h.compressionName(),
		RefcountBits: 1 << h.refcountOrder, Snapshots: int(h.nbSnapshots),
	}, nil
}

// zeroPadded reads head, then zeros.
type zeroPadded []byte

func (z zeroPadded) ReadAt(p []byte, off int64) (int, error) {
	clear(p)
	if off < int64(len(z)) {
		copy(p, z[off:])
	}
	return len(p), nil
}

// Peek parses the header of the qcow2 file in ra (size bytes) with Open's
// policy and reads its L1 table, nothing more: the virtual size, and whether
// anything is allocated (an L2 table, or an internal snapshot). An image
// Create made stays unallocated until something is written to it. Peek is
// cheap enough to ask before every snapshot; Inspect is the one that
// validates every table.
func Peek(ra io.ReaderAt, size int64) (virtualSize int64, allocated bool, err error) {
	h, err := parseReadableHeader(ra, size)
	if err != nil {
		return 0, false, err
	}
	l1, err := readL1(ra, h, size)
	if err != nil {
		return 0, false, err
	}
	allocated = h.nbSnapshots > 0
	for _, off := range l1 {
		allocated = allocated || off != 0
	}
	return h.virtualSize, allocated, nil
}
