package qcow2

// clusterKind is what one guest cluster is in one layer.
type clusterKind uint8

const (
	clusterUnallocated clusterKind = iota // look in the backing file
	clusterZero                           // reads as zeros
	clusterData                           // stored uncompressed at a host offset
	clusterCompressed                     // stored compressed at a byte offset
)

// span is a run of guest clusters of one L2 table that share a kind and, for
// data, occupy consecutive host clusters. An L2 table is kept in memory as
// its spans: an overlay with a few writes is a few spans, not a cluster of
// entries, so deep chains cost little cache.
type span struct {
	first, count uint32 // entry index in the table, number of entries
	csize        uint32 // compressed: bytes of compressed data
	kind         clusterKind
	host         int64 // data: host offset of entry first; compressed: offset of its bytes
}

// spanBytes is what the cache charges for one span.
const spanBytes = 24

// l2Decoder turns raw L2 tables of one image into spans, validating every
// entry against the file.
type l2Decoder struct {
	clusterBits uint
	fileSize    int64
}

// compressedFields splits a compressed cluster descriptor into the byte
// offset of the data and its maximal length (whole sectors, so it may run a
// little past the real data and, at the end of the file, past the file).
func (d l2Decoder) compressedFields(entry uint64) (offset, length int64) {
	x := 62 - (d.clusterBits - 8)
	offset = int64(entry & (uint64(1)<<x - 1))
	sectors := int64((entry>>x)&(uint64(1)<<(62-x)-1)) + 1
	return offset, sectors*sectorSize - offset%sectorSize
}

// entry classifies one L2 entry. It returns the host offset of a data or
// preallocated zero cluster, or the offset and length of compressed data.
func (d l2Decoder) entry(e uint64) (kind clusterKind, host int64, csize int64, err error) {
	clusterSize := int64(1) << d.clusterBits
	if e&entryCompressed != 0 {
		off, length := d.compressedFields(e)
		if off < clusterSize || off >= d.fileSize {
			return 0, 0, 0, errCorrupt("compressed cluster at %#x lies outside the file (%d bytes) or in its header", off, d.fileSize)
		}
		return clusterCompressed, off, length, nil
	}
	host = int64(e & offsetMask)
	zero := e&entryZero != 0
	switch {
	case host == 0 && zero:
		return clusterZero, 0, 0, nil
	case host == 0 && e&entryCopied != 0:
		return 0, 0, 0, errCorrupt("L2 entry %#x maps host offset 0", e)
	case host == 0:
		return clusterUnallocated, 0, 0, nil
	case host%clusterSize != 0:
		return 0, 0, 0, errCorrupt("data cluster offset %#x is not cluster aligned", host)
	case host >= d.fileSize:
		return 0, 0, 0, errCorrupt("data cluster offset %#x lies past the end of the file (%d bytes)", host, d.fileSize)
	case zero:
		return clusterZero, host, 0, nil
	}
	return clusterData, host, 0, nil
}

// decode converts a raw big-endian L2 table into spans. Unallocated entries
// make no span: a gap between spans is unallocated.
func (d l2Decoder) decode(raw []byte) ([]span, error) {
	clusterSize := int64(1) << d.clusterBits
	var spans []span
	const block = 64 // entries skipped at once when all are unallocated
	for i := 0; i*8 < len(raw); i++ {
		if i%block == 0 && i*8+block*8 <= len(raw) && isZero(raw[i*8:i*8+block*8]) {
			i += block - 1 // the common case in overlays
			continue
		}
		e := be64(raw[i*8:])
		if e == 0 {
			continue
		}
		kind, host, csize, err := d.entry(e)
		if err != nil {
			return nil, err
		}
		if kind == clusterUnallocated {
			continue
		}
		if n := len(spans); n > 0 && kind != clusterCompressed {
			last := &spans[n-1]
			if last.kind == kind && int(last.first+last.count) == i &&
				(kind == clusterZero || host == last.host+int64(last.count)*clusterSize) {
				last.count++
				continue
			}
		}
		spans = append(spans, span{first: uint32(i), count: 1, kind: kind, host: host, csize: uint32(csize)})
	}
	return spans, nil
}
