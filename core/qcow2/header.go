package qcow2

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// header is the parsed first cluster of a qcow2 file. parseHeader checks
// every offset and size in it against the file; the feature policy (what
// this package refuses to read) is separate, in header.refuseUnsupported and
// header.refuseUnclean, so that Check can still look at a dirty image.
type header struct {
	version          int
	clusterBits      uint
	virtualSize      int64
	cryptMethod      uint32
	l1Size           int64
	l1Offset         int64
	refcountOffset   int64
	refcountClusters int64
	nbSnapshots      int64
	snapshotsOffset  int64
	incompatible     uint64
	compatible       uint64
	autoclear        uint64
	refcountOrder    uint
	headerLength     int64
	compression      uint8
	backingFile      string
	backingFormat    string
	hasDataFile      bool
	bitmaps          *bitmapsExtension
	crypto           *cryptoExtension
	// incompatNames holds the feature name table's names of incompatible
	// bits, so an unknown bit can be named in the error.
	incompatNames map[uint]string
}

type bitmapsExtension struct {
	count           uint32
	directorySize   int64
	directoryOffset int64
}

type cryptoExtension struct {
	offset, length int64
}

func (h *header) clusterSize() int64 { return 1 << h.clusterBits }

// l2Entries is how many entries one L2 table (one cluster) holds.
func (h *header) l2Entries() int64 { return h.clusterSize() / 8 }

// l1Needed is the smallest L1 table that maps the whole virtual disk.
func l1Needed(virtualSize int64, clusterBits uint) int64 {
	perL2 := int64(1) << (2*clusterBits - 3) // guest bytes mapped by one L2 table
	return (virtualSize + perL2 - 1) / perL2
}

// compressionName is the name QEMU uses for h's compression type.
func (h *header) compressionName() string {
	if h.compression == compressionZstd {
		return "zstd"
	}
	return "zlib"
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }
func be64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// parseHeader reads and validates the header of the qcow2 file ra of fileSize
// bytes. It allocates at most what the header cluster justifies.
func parseHeader(ra io.ReaderAt, fileSize int64) (*header, error) {
	if fileSize < v2HeaderLength {
		return nil, errCorrupt("file of %d bytes is too short for a qcow2 header", fileSize)
	}
	fixed := make([]byte, min(fileSize, ourHeaderLength))
	if err := readFull(ra, fixed, 0); err != nil {
		return nil, err
	}
	if be32(fixed[0:]) != qcowMagic {
		return nil, errCorrupt("no qcow2 magic")
	}
	h := &header{version: int(be32(fixed[4:]))}
	if h.version != 2 && h.version != 3 {
		return nil, errUnsupported("qcow2 version %d", h.version)
	}
	backingOffset := be64(fixed[8:])
	backingSize := be32(fixed[16:])
	bits := be32(fixed[20:])
	if bits < minClusterBits || bits > maxClusterBits {
		return nil, errCorrupt("cluster_bits %d out of range %d..%d", bits, minClusterBits, maxClusterBits)
	}
	h.clusterBits = uint(bits)
	size := be64(fixed[24:])
	h.cryptMethod = be32(fixed[32:])
	l1Size := be32(fixed[36:])
	l1Offset := be64(fixed[40:])
	refcountOffset := be64(fixed[48:])
	refcountClusters := be32(fixed[56:])
	nbSnapshots := be32(fixed[60:])
	snapshotsOffset := be64(fixed[64:])

	h.headerLength = v2HeaderLength
	h.refcountOrder = v2RefcountOrder
	if h.version == 3 {
		if len(fixed) < v3HeaderLength {
			return nil, errCorrupt("file of %d bytes is too short for a v3 header", fileSize)
		}
		h.incompatible = be64(fixed[72:])
		h.compatible = be64(fixed[80:])
		h.autoclear = be64(fixed[88:])
		h.refcountOrder = uint(be32(fixed[96:]))
		length := be32(fixed[100:])
		if length < v3HeaderLength || length%8 != 0 || int64(length) > h.clusterSize() || int64(length) > fileSize {
			return nil, errCorrupt("header_length %d invalid (at least %d, a multiple of 8, within the first cluster and the file)",
				length, v3HeaderLength)
		}
		h.headerLength = int64(length)
		if h.headerLength > 104 {
			h.compression = fixed[104]
		}
	}
	if h.refcountOrder > maxRefcountOrder {
		return nil, errCorrupt("refcount_order %d over %d", h.refcountOrder, maxRefcountOrder)
	}
	if err := h.checkCompressionField(); err != nil {
		return nil, err
	}
	c := h.clusterSize()
	if size > 1<<62 {
		return nil, errCorrupt("virtual size %d too large", size)
	}
	h.virtualSize = int64(size)

	// The active L1 table: it must map the whole disk and lie inside the file.
	h.l1Size = int64(l1Size)
	if h.l1Size*8 > maxL1Bytes {
		return nil, errUnsupported("L1 table of %d entries is over QEMU's %d MiB limit", l1Size, maxL1Bytes>>20)
	}
	if need := l1Needed(h.virtualSize, h.clusterBits); h.l1Size < need {
		return nil, errCorrupt("L1 table of %d entries is too small for a %d-byte disk (needs %d)", l1Size, size, need)
	}
	if h.l1Size > 0 {
		off, err := checkTable(c, fileSize, "L1 table", l1Offset, h.l1Size*8)
		if err != nil {
			return nil, err
		}
		h.l1Offset = off
	}

	// The refcount table: at least one cluster, QEMU's size limit, inside the file.
	if refcountClusters == 0 {
		return nil, errCorrupt("refcount table has no clusters")
	}
	h.refcountClusters = int64(refcountClusters)
	if h.refcountClusters*c > maxRefcountTableBytes {
		return nil, errUnsupported("refcount table of %d clusters is over QEMU's %d MiB limit", refcountClusters, maxRefcountTableBytes>>20)
	}
	off, err := checkTable(c, fileSize, "refcount table", refcountOffset, h.refcountClusters*c)
	if err != nil {
		return nil, err
	}
	h.refcountOffset = off

	if nbSnapshots > maxSnapshots {
		return nil, errCorrupt("%d internal snapshots is over the limit of %d", nbSnapshots, maxSnapshots)
	}
	h.nbSnapshots = int64(nbSnapshots)
	if h.nbSnapshots > 0 {
		// Each snapshot entry is at least 40 bytes; the exact length is
		// checked when the table is read.
		off, err := checkTable(c, fileSize, "snapshot table", snapshotsOffset, h.nbSnapshots*40)
		if err != nil {
			return nil, err
		}
		h.snapshotsOffset = off
	}

	if err := h.parseBackingName(ra, fileSize, backingOffset, backingSize); err != nil {
		return nil, err
	}
	extEnd := c
	if backingOffset != 0 {
		extEnd = int64(backingOffset)
	}
	if err := h.parseExtensions(ra, min(extEnd, fileSize)); err != nil {
		return nil, err
	}
	return h, nil
}

// checkCompressionField enforces the rule that ties the compression_type
// field to incompatible bit 3.
func (h *header) checkCompressionField() error {
	flagged := h.incompatible&incompatCompressionType != 0
	switch {
	case flagged && h.headerLength <= 104:
		return errCorrupt("compression type bit set but header has no compression_type field")
	case flagged && h.compression == compressionDeflate:
		return errCorrupt("compression type bit set with compression_type 0")
	case !flagged && h.compression != compressionDeflate:
		return errCorrupt("compression_type %d without the compression type bit", h.compression)
	case h.compression > compressionZstd:
		return errUnsupported("compression_type %d", h.compression)
	}
	return nil
}

// checkTable validates a metadata table: cluster aligned, not in the header
// cluster, and wholly inside the file.
func checkTable(clusterSize, fileSize int64, what string, offset uint64, length int64) (int64, error) {
	switch {
	case offset%uint64(clusterSize) != 0:
		return 0, errCorrupt("%s offset %#x is not cluster aligned", what, offset)
	case offset < uint64(clusterSize):
		return 0, errCorrupt("%s offset %#x lies in the header cluster", what, offset)
	case offset > uint64(fileSize) || uint64(length) > uint64(fileSize)-offset:
		return 0, errCorrupt("%s at %#x (%d bytes) lies past the end of the file (%d bytes)", what, offset, length, fileSize)
	}
	return int64(offset), nil
}

func (h *header) parseBackingName(ra io.ReaderAt, fileSize int64, offset uint64, size uint32) error {
	if offset == 0 {
		return nil
	}
	if size > maxBackingNameLen {
		return errCorrupt("backing_file_size %d over %d", size, maxBackingNameLen)
	}
	end := min(h.clusterSize(), fileSize)
	if offset < uint64(h.headerLength) || offset > uint64(end) || uint64(size) > uint64(end)-offset {
		return errCorrupt("backing file name at %#x (%d bytes) is not inside the header cluster after the header", offset, size)
	}
	name := make([]byte, size)
	if err := readFull(ra, name, int64(offset)); err != nil {
		return err
	}
	if bytes.IndexByte(name, 0) >= 0 {
		return errCorrupt("backing file name contains a NUL byte")
	}
	h.backingFile = string(name)
	return nil
}

// parseExtensions walks the header extensions between the header and end.
// Extensions usually take a few hundred bytes of a cluster that may be
// 2 MiB, so the area is read a page at a time, as far as the walk goes.
func (h *header) parseExtensions(ra io.ReaderAt, end int64) error {
	area := &lazyArea{ra: ra, start: h.headerLength, limit: max(0, end-h.headerLength)}
	seen := map[uint32]bool{}
	for off := int64(0); off+8 <= area.limit; {
		head, err := area.bytes(off, 8)
		if err != nil {
			return err
		}
		typ, length := be32(head), int64(be32(head[4:]))
		if typ == extEnd {
			return nil
		}
		off += 8
		if length > area.limit-off {
			return errCorrupt("header extension %#x of %d bytes overruns the header area", typ, length)
		}
		data, err := area.bytes(off, length)
		if err != nil {
			return err
		}
		if seen[typ] && typ != extFeatureNames {
			return errCorrupt("header extension %#x appears twice", typ)
		}
		seen[typ] = true
		if err := h.parseExtension(typ, data); err != nil {
			return err
		}
		off += alignUp(length, 8)
	}
	return nil
}

// lazyArea reads a region of a file on demand, in whole pages, at least
// doubling what it holds each time.
type lazyArea struct {
	ra    io.ReaderAt
	start int64  // file offset of the region
	limit int64  // its length
	buf   []byte // the region's first len(buf) bytes
}

func (a *lazyArea) bytes(off, n int64) ([]byte, error) {
	if need := off + n; need > int64(len(a.buf)) {
		grown := min(a.limit, max(alignUp(need, 4096), 2*int64(len(a.buf))))
		buf := make([]byte, grown)
		copy(buf, a.buf)
		if err := readFull(a.ra, buf[len(a.buf):], a.start+int64(len(a.buf))); err != nil {
			return nil, err
		}
		a.buf = buf
	}
	return a.buf[off : off+n], nil
}

func (h *header) parseExtension(typ uint32, data []byte) error {
	switch typ {
	case extBackingFormat:
		if len(data) > 16 || bytes.IndexByte(data, 0) >= 0 {
			return errCorrupt("backing format name %q invalid", data)
		}
		h.backingFormat = string(data)
	case extDataFile:
		h.hasDataFile = true
	case extFeatureNames:
		for ; len(data) >= 48; data = data[48:] {
			if data[0] == 0 && data[1] < 64 {
				if h.incompatNames == nil {
					h.incompatNames = map[uint]string{}
				}
				h.incompatNames[uint(data[1])] = strings.TrimRight(string(data[2:48]), "\x00")
			}
		}
	case extBitmaps:
		if len(data) < 24 {
			return errCorrupt("bitmaps extension of %d bytes is too short", len(data))
		}
		h.bitmaps = &bitmapsExtension{
			count:           be32(data),
			directorySize:   int64(be64(data[8:]) & (1<<62 - 1)),
			directoryOffset: int64(be64(data[16:]) & (1<<62 - 1)),
		}
	case extCrypto:
		if len(data) < 16 {
			return errCorrupt("encryption extension of %d bytes is too short", len(data))
		}
		h.crypto = &cryptoExtension{offset: int64(be64(data) & (1<<62 - 1)), length: int64(be64(data[8:]) & (1<<62 - 1))}
	}
	return nil
}

// refuseUnsupported returns an error naming the first feature of h that this
// package cannot read correctly.
func (h *header) refuseUnsupported() error {
	if unknown := h.incompatible &^ incompatKnown; unknown != 0 {
		for bit := uint(0); bit < 64; bit++ {
			if unknown&(1<<bit) != 0 {
				name := h.incompatNames[bit]
				if name == "" {
					name = "unnamed"
				}
				return errUnsupported("unknown incompatible feature bit %d (%s)", bit, name)
			}
		}
	}
	switch {
	case h.cryptMethod != 0:
		return errUnsupported("encrypted image (crypt_method %d)", h.cryptMethod)
	case h.incompatible&incompatExternalData != 0 || h.hasDataFile:
		return errUnsupported("external data file")
	case h.incompatible&incompatExtendedL2 != 0:
		return errUnsupported("extended L2 entries (subclusters)")
	}
	return nil
}

// parseReadableHeader parses a header and refuses what this package cannot
// read, or must not trust.
func parseReadableHeader(ra io.ReaderAt, fileSize int64) (*header, error) {
	h, err := parseHeader(ra, fileSize)
	if err != nil {
		return nil, err
	}
	if err := h.refuseUnsupported(); err != nil {
		return nil, err
	}
	if err := h.refuseUnclean(); err != nil {
		return nil, err
	}
	return h, nil
}

// refuseUnclean returns an error if h says its metadata may be inconsistent.
func (h *header) refuseUnclean() error {
	switch {
	case h.incompatible&incompatCorrupt != 0:
		return errCorrupt("image is marked corrupt")
	case h.incompatible&incompatDirty != 0:
		return errCorrupt("image is marked dirty (refcounts may be stale; repair with qemu-img check -r all)")
	}
	return nil
}

// readFull reads len(p) bytes at off; a short file is corruption, since every
// caller has already checked that the range lies inside the file.
func readFull(ra io.ReaderAt, p []byte, off int64) error {
	n, err := ra.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		return errCorrupt("short read: %d of %d bytes at %#x", n, len(p), off)
	}
	return fmt.Errorf("qcow2: read %d bytes at %#x: %w", len(p), off, err)
}

func alignUp(n, to int64) int64 { return (n + to - 1) / to * to }

func ceilDiv(n, d int64) int64 { return (n + d - 1) / d }
