package qcow2

import (
	"bytes"
	"encoding/binary"
)

// layout is the complete shape of an output image, computed from its runs
// before any data is read: every table's place and every entry's value
// follow from it. The file is, in order: the header cluster, the L1 table,
// the refcount table, the refcount blocks, the L2 tables, then the data
// clusters in guest order. Every cluster has refcount one.
type layout struct {
	bits        uint
	cluster     int64
	virtualSize int64
	header      []byte // the non-zero start of cluster 0

	l1Entries, l1Off              int64
	refTableOff, refTableClusters int64
	refBlockOff, refBlocks        int64
	l2Off, l2Tables               int64
	dataOff, dataClusters         int64
	clusters                      int64 // in the whole file

	runs   []run // data and zero, in guest order
	data   []run // the data runs alone, in guest (and so ordinal) order
	tables []tableRun
}

// newLayout places the metadata for runs (from planRuns) of a disk of
// virtualSize bytes.
func newLayout(virtualSize int64, bits uint, runs []run, dataClusters int64, backing string, backingFormat Format) (*layout, error) {
	c := int64(1) << bits
	lay := &layout{bits: bits, cluster: c, virtualSize: virtualSize, runs: runs, dataClusters: dataClusters}
	lay.l1Entries = l1Needed(virtualSize, bits)
	if lay.l1Entries*8 > maxL1Bytes {
		return nil, errInvalid("a %d-byte disk needs an L1 table over %d MiB with %d-byte clusters", virtualSize, maxL1Bytes>>20, c)
	}
	for _, r := range runs {
		if r.kind == Data {
			lay.data = append(lay.data, r)
		}
	}
	lay.tables, lay.l2Tables = planTables(runs, c/8)
	l1Clusters := ceilDiv(lay.l1Entries*8, c)

	// The refcount structures must count themselves: grow them until they
	// cover the whole file.
	fixed := 1 + l1Clusters + lay.l2Tables + dataClusters
	perBlock := c * 8 / (1 << ourRefcountOrder)
	for {
		total := fixed + lay.refTableClusters + lay.refBlocks
		blocks := ceilDiv(total, perBlock)
		tableClusters := ceilDiv(blocks*8, c)
		if blocks == lay.refBlocks && tableClusters == lay.refTableClusters {
			lay.clusters = total
			break
		}
		lay.refBlocks, lay.refTableClusters = blocks, tableClusters
	}
	if lay.refTableClusters*c > maxRefcountTableBytes {
		return nil, errInvalid("image too large for a %d MiB refcount table with %d-byte clusters", maxRefcountTableBytes>>20, c)
	}

	lay.l1Off = c
	lay.refTableOff = lay.l1Off + l1Clusters*c
	lay.refBlockOff = lay.refTableOff + lay.refTableClusters*c
	lay.l2Off = lay.refBlockOff + lay.refBlocks*c
	lay.dataOff = lay.l2Off + lay.l2Tables*c
	if lay.l1Entries == 0 {
		lay.l1Off = 0 // as QEMU writes an empty disk
	}
	header, err := lay.encodeHeader(backing, backingFormat)
	if err != nil {
		return nil, err
	}
	lay.header = header
	return lay, nil
}

// size is the length of the image file.
func (lay *layout) size() int64 { return lay.clusters * lay.cluster }

// encodeHeader writes a v3 header with compression_type (QEMU's 112-byte
// form), the backing-format extension, the end marker, then the backing
// file name.
func (lay *layout) encodeHeader(backing string, backingFormat Format) ([]byte, error) {
	var b bytes.Buffer
	put := func(v any) { _ = binary.Write(&b, binary.BigEndian, v) }
	var ext bytes.Buffer
	if backingFormat != "" {
		_ = binary.Write(&ext, binary.BigEndian, [2]uint32{extBackingFormat, uint32(len(backingFormat))})
		ext.WriteString(string(backingFormat))
		ext.Write(make([]byte, alignUp(int64(len(backingFormat)), 8)-int64(len(backingFormat))))
	}
	ext.Write(make([]byte, 8)) // end of extensions
	backingOff := uint64(0)
	if backing != "" {
		backingOff = uint64(ourHeaderLength + ext.Len())
	}

	put(uint32(qcowMagic))
	put(uint32(3))
	put(backingOff)
	put(uint32(len(backing)))
	put(uint32(lay.bits))
	put(uint64(lay.virtualSize))
	put(uint32(0)) // no encryption
	put(uint32(lay.l1Entries))
	put(uint64(lay.l1Off))
	put(uint64(lay.refTableOff))
	put(uint32(lay.refTableClusters))
	put(uint32(0)) // no internal snapshots
	put(uint64(0))
	put([3]uint64{}) // incompatible, compatible, autoclear features
	put(uint32(ourRefcountOrder))
	put(uint32(ourHeaderLength))
	put([8]byte{compressionDeflate})
	b.Write(ext.Bytes())
	b.WriteString(backing)
	if int64(b.Len()) > lay.cluster {
		return nil, errInvalid("header with backing file name of %d bytes does not fit a %d-byte cluster", len(backing), lay.cluster)
	}
	return b.Bytes(), nil
}
