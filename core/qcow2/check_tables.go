package qcow2

import "fmt"

// Snapshot table entry layout (fixed part).
const (
	snapshotFixedLen = 40
	bitmapFixedLen   = 24
)

// walkSnapshots counts the snapshot table and every internal snapshot's L1
// table, L2 tables and clusters.
func (k *checker) walkSnapshots() error {
	if k.h.nbSnapshots == 0 {
		return nil
	}
	off := k.h.snapshotsOffset
	for i := range k.h.nbSnapshots {
		var fixed [snapshotFixedLen]byte
		if off > k.fileSize-snapshotFixedLen {
			k.corruption("snapshot %d entry at %#x lies past the end of the file", i, off)
			return nil
		}
		if err := readFull(k.ra, fixed[:], off); err != nil {
			return err
		}
		l1Off, l1Size := int64(be64(fixed[0:])), int64(be32(fixed[8:]))
		idLen, nameLen, extra := int64(be16(fixed[12:])), int64(be16(fixed[14:])), int64(be32(fixed[36:]))
		off += alignUp(snapshotFixedLen+extra+idLen+nameLen, 8)
		what := fmt.Sprintf("snapshot %d L1 table", i)
		if l1Size*8 > maxL1Bytes {
			k.corruption("%s of %d entries is over the limit", what, l1Size)
			continue
		}
		if l1Size == 0 {
			continue
		}
		if _, err := checkTable(k.cluster, k.fileSize, what, uint64(l1Off), l1Size*8); err != nil {
			k.corruption("%v", err)
			continue
		}
		if err := k.walkL1(what, l1Off, l1Size, false); err != nil {
			return err
		}
	}
	k.ref("snapshot table", k.h.snapshotsOffset, off-k.h.snapshotsOffset)
	return nil
}

// walkBitmaps counts the bitmap directory, bitmap tables and bitmap data.
func (k *checker) walkBitmaps() error {
	b := k.h.bitmaps
	if b == nil || b.count == 0 {
		return nil
	}
	if b.directoryOffset >= k.fileSize || b.directorySize > k.fileSize-b.directoryOffset || b.directorySize > 64<<20 {
		k.corruption("bitmap directory at %#x (%d bytes) lies past the end of the file", b.directoryOffset, b.directorySize)
		return nil
	}
	k.ref("bitmap directory", b.directoryOffset, b.directorySize)
	dir := make([]byte, b.directorySize) // bounded by the file above
	if err := readFull(k.ra, dir, b.directoryOffset); err != nil {
		return err
	}
	for i := uint32(0); i < b.count && len(dir) >= bitmapFixedLen; i++ {
		tableOff, tableSize := int64(be64(dir[0:])), int64(be32(dir[8:]))
		nameLen, extra := int64(be16(dir[18:])), int64(be32(dir[20:]))
		entryLen := alignUp(bitmapFixedLen+extra+nameLen, 8)
		if entryLen > int64(len(dir)) {
			k.corruption("bitmap directory entry %d overruns the directory", i)
			return nil
		}
		dir = dir[entryLen:]
		what := fmt.Sprintf("bitmap %d table", i)
		if _, err := checkTable(k.cluster, k.fileSize, what, uint64(tableOff), tableSize*8); err != nil {
			k.corruption("%v", err)
			continue
		}
		if err := k.walkBitmapTable(what, tableOff, tableSize); err != nil {
			return err
		}
	}
	return nil
}

func (k *checker) walkBitmapTable(what string, off, entries int64) error {
	k.ref(what, off, entries*8)
	raw := make([]byte, entries*8) // checked against the file by the caller
	if err := readFull(k.ra, raw, off); err != nil {
		return err
	}
	for j := range entries {
		if data := int64(be64(raw[j*8:]) & offsetMask); data != 0 {
			k.ref("bitmap data", data, k.cluster)
		}
	}
	return nil
}
