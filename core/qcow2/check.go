package qcow2

import (
	"context"
	"fmt"
	"io"
	"os"
)

// maxProblems caps CheckResult.Problems; the counts stay exact.
const maxProblems = 100

// CheckResult is what Check found. Corruptions and Leaks count as qemu-img
// check counts them: a cluster referenced more often than its refcount says,
// or an OFLAG_COPIED bit that disagrees with the refcount, is a corruption;
// a refcount higher than the references is a leak.
type CheckResult struct {
	Corruptions, Leaks int
	Problems           []string // the first problems found, in words
	// What the tables reference, for Inspect and for reports.
	DataClusters, ZeroClusters, CompressedClusters int64
	ImageEndOffset                                 int64 // end of the last referenced cluster
}

// Check is this package's qemu-img check: it rebuilds every refcount from the
// tables (active L1/L2, internal snapshots, refcount structures, bitmaps) and
// compares with the stored refcounts and COPIED bits. It changes nothing.
func Check(ctx context.Context, path string) (*CheckResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("qcow2: check: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("qcow2: check: %w", err)
	}
	return CheckReaderAt(ctx, f, fi.Size())
}

// CheckReaderAt checks the qcow2 image in ra, a file of size bytes.
func CheckReaderAt(ctx context.Context, ra io.ReaderAt, size int64) (*CheckResult, error) {
	h, err := parseHeader(ra, size)
	if err != nil {
		return nil, err
	}
	if err := h.refuseUnsupportedForCheck(); err != nil {
		return nil, err
	}
	k, err := check(ctx, ra, size, h)
	if err != nil {
		return nil, err
	}
	return k.res, nil
}

// check walks the image whose header parseHeader returned.
func check(ctx context.Context, ra io.ReaderAt, size int64, h *header) (*checker, error) {
	k := &checker{
		ctx: ctx, ra: ra, h: h, fileSize: size, cluster: h.clusterSize(),
		decoder: l2Decoder{clusterBits: h.clusterBits, fileSize: size},
		refs:    make([]uint16, ceilDiv(size, h.clusterSize())), // bounded by the file
		res:     &CheckResult{},
	}
	if err := k.run(); err != nil {
		return nil, err
	}
	return k, nil
}

// refuseUnsupportedForCheck lets encrypted images through (their metadata is
// plain) but not layouts Check cannot walk.
func (h *header) refuseUnsupportedForCheck() error {
	if h.cryptMethod == 0 {
		return h.refuseUnsupported()
	}
	plain := *h
	plain.cryptMethod = 0
	return plain.refuseUnsupported()
}

type checker struct {
	ctx      context.Context
	ra       io.ReaderAt
	h        *header
	fileSize int64
	cluster  int64
	decoder  l2Decoder
	refs     []uint16 // references found per host cluster, saturating
	stored   *refcountReader
	res      *CheckResult

	firstCorruption string
}

func (k *checker) corruption(format string, args ...any) {
	k.res.Corruptions++
	if k.firstCorruption == "" {
		k.firstCorruption = fmt.Sprintf(format, args...)
	}
	k.note(format, args...)
}

func (k *checker) note(format string, args ...any) {
	if len(k.res.Problems) < maxProblems {
		k.res.Problems = append(k.res.Problems, fmt.Sprintf(format, args...))
	}
}

// ref counts one reference to every cluster of [off, off+length). Like
// QEMU, it accepts a last cluster that the file holds only in part.
func (k *checker) ref(what string, off, length int64) {
	if length <= 0 {
		return
	}
	if off < 0 || off >= k.fileSize {
		k.corruption("%s at %#x lies past the end of the file", what, off)
		return
	}
	length = min(length, k.fileSize-off)
	for c := off / k.cluster; c <= (off+length-1)/k.cluster; c++ {
		if k.refs[c] < ^uint16(0) {
			k.refs[c]++
		}
	}
	k.res.ImageEndOffset = max(k.res.ImageEndOffset, alignUp(off+length, k.cluster))
}

func (k *checker) run() error {
	var err error
	k.stored, err = newRefcountReader(k.ra, k.h, k.fileSize, func(i int, e uint64) {
		k.corruption("refcount table entry %d (%#x) is not a cluster-aligned block inside the file", i, e)
	})
	if err != nil {
		return err
	}
	k.ref("header", 0, k.cluster)
	if k.h.l1Size > 0 {
		if err := k.walkL1("active L1 table", k.h.l1Offset, k.h.l1Size, true); err != nil {
			return err
		}
	}
	if err := k.walkSnapshots(); err != nil {
		return err
	}
	k.ref("refcount table", k.h.refcountOffset, k.h.refcountClusters*k.cluster)
	for i, off := range k.stored.table {
		if off != 0 {
			k.ref(fmt.Sprintf("refcount block %d", i), off, k.cluster)
		}
	}
	if err := k.walkBitmaps(); err != nil {
		return err
	}
	if c := k.h.crypto; c != nil {
		k.ref("encryption header", c.offset, c.length)
	}
	return k.compare()
}

// walkL1 counts an L1 table, its L2 tables and their clusters. Only the
// active table's COPIED bits are meaningful.
func (k *checker) walkL1(what string, off, entries int64, active bool) error {
	k.ref(what, off, entries*8)
	raw := make([]byte, entries*8) // bounded by the file: checked by the caller
	if err := readFull(k.ra, raw, off); err != nil {
		return err
	}
	l2 := make([]byte, k.cluster)
	for i := range entries {
		if err := k.ctx.Err(); err != nil {
			return err
		}
		e := be64(raw[i*8:])
		l2Off := int64(e & offsetMask)
		if l2Off == 0 {
			continue
		}
		if l2Off%k.cluster != 0 {
			k.corruption("%s entry %d: L2 table offset %#x is not cluster aligned", what, i, l2Off)
			continue
		}
		if l2Off > k.fileSize-k.cluster {
			k.corruption("%s entry %d: L2 table at %#x lies past the end of the file", what, i, l2Off)
			continue
		}
		k.ref("L2 table", l2Off, k.cluster)
		if active {
			if err := k.checkCopied(fmt.Sprintf("L1 entry %d", i), e, l2Off); err != nil {
				return err
			}
		}
		if err := readFull(k.ra, l2, l2Off); err != nil {
			return err
		}
		if err := k.walkL2(l2, active); err != nil {
			return err
		}
	}
	return nil
}

func (k *checker) walkL2(l2 []byte, active bool) error {
	for j := 0; j*8 < len(l2); j++ {
		e := be64(l2[j*8:])
		if e&entryCompressed != 0 {
			off, length := k.decoder.compressedFields(e)
			k.res.CompressedClusters++
			k.ref("compressed cluster", off, length)
			if e&entryCopied != 0 {
				k.corruption("compressed cluster at %#x has the COPIED bit set", off)
			}
			continue
		}
		kind, host, _, err := k.decoder.entry(e)
		if err != nil {
			k.corruption("%v", err)
			continue
		}
		switch kind {
		case clusterZero:
			k.res.ZeroClusters++
		case clusterData:
			k.res.DataClusters++
		}
		if host == 0 {
			continue
		}
		k.ref("data cluster", host, k.cluster)
		if active {
			if err := k.checkCopied("L2 entry", e, host); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkCopied compares an entry's COPIED bit with the stored refcount of the
// cluster it points to, as qemu-img check does.
func (k *checker) checkCopied(what string, entry uint64, off int64) error {
	rc, err := k.stored.get(off / k.cluster)
	if err != nil {
		return err
	}
	if (rc == 1) != (entry&entryCopied != 0) {
		k.corruption("%s %#x: COPIED bit disagrees with refcount %d", what, entry, rc)
	}
	return nil
}

// compare sets the stored refcount of every cluster of the file against the
// references found.
func (k *checker) compare() error {
	for c := range int64(len(k.refs)) {
		if c%4096 == 0 {
			if err := k.ctx.Err(); err != nil {
				return err
			}
		}
		stored, err := k.stored.get(c)
		if err != nil {
			return err
		}
		found := uint64(k.refs[c])
		switch {
		case stored < found:
			k.corruption("cluster %d refcount=%d reference=%d", c, stored, found)
		case stored > found:
			k.res.Leaks++
			k.note("leaked cluster %d refcount=%d reference=%d", c, stored, found)
		}
	}
	return nil
}
