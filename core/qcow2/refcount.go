package qcow2

import (
	"encoding/binary"
	"io"
)

// refcountReader reads the stored refcount of host clusters. The refcount
// table is in memory (parseHeader bounded it by QEMU's limit and the file);
// one refcount block at a time is cached.
type refcountReader struct {
	ra          io.ReaderAt
	fileSize    int64
	clusterSize int64
	order       uint
	table       []int64 // block offsets; 0 = none

	blockIndex int64 // index of the cached block, -1 for none
	block      []byte
}

// newRefcountReader reads the refcount table. Entries that do not point to a
// cluster-aligned block inside the file are reported to bad and read as no
// block.
func newRefcountReader(ra io.ReaderAt, h *header, fileSize int64, bad func(i int, entry uint64)) (*refcountReader, error) {
	c := h.clusterSize()
	raw := make([]byte, h.refcountClusters*c)
	if err := readFull(ra, raw, h.refcountOffset); err != nil {
		return nil, err
	}
	r := &refcountReader{ra: ra, fileSize: fileSize, clusterSize: c, order: h.refcountOrder, blockIndex: -1}
	r.table = make([]int64, len(raw)/8)
	for i := range r.table {
		e := be64(raw[i*8:])
		off := int64(e &^ (1<<9 - 1))
		if off == 0 {
			continue
		}
		if off%c != 0 || off < c || off > fileSize-c || e&(1<<9-1) != 0 {
			bad(i, e)
			continue
		}
		r.table[i] = off
	}
	return r, nil
}

// perBlock is how many refcounts one block holds.
func (r *refcountReader) perBlock() int64 { return r.clusterSize * 8 >> r.order }

// get returns the stored refcount of host cluster i.
func (r *refcountReader) get(i int64) (uint64, error) {
	b := i / r.perBlock()
	if b >= int64(len(r.table)) || r.table[b] == 0 {
		return 0, nil
	}
	if b != r.blockIndex {
		if r.block == nil {
			r.block = make([]byte, r.clusterSize)
		}
		if err := readFull(r.ra, r.block, r.table[b]); err != nil {
			r.blockIndex = -1
			return 0, err
		}
		r.blockIndex = b
	}
	return refcountEntry(r.block, i%r.perBlock(), r.order), nil
}

// refcountEntry decodes entry i of a refcount block of 1<<order-bit entries.
// Sub-byte entries count from the least significant bit.
func refcountEntry(block []byte, i int64, order uint) uint64 {
	switch bits := int64(1) << order; {
	case bits < 8:
		shift := uint(i*bits) % 8
		return uint64(block[i*bits/8]>>shift) & (1<<bits - 1)
	case bits == 8:
		return uint64(block[i])
	case bits == 16:
		return uint64(binary.BigEndian.Uint16(block[i*2:]))
	case bits == 32:
		return uint64(binary.BigEndian.Uint32(block[i*4:]))
	default:
		return binary.BigEndian.Uint64(block[i*8:])
	}
}
