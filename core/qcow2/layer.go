package qcow2

import (
	"io"
	"os"
)

// segment is a byte range of the guest disk as one layer sees it.
type segment struct {
	off, length int64
	kind        clusterKind
	// host is, for data, the host offset of off; for compressed data, the
	// offset of the compressed bytes of the cluster holding off.
	host  int64
	csize int64 // compressed: bytes of compressed data
}

// layer is one file of a chain.
type layer interface {
	info() LayerInfo
	virtualSize() int64
	// mapRange calls fn with consecutive segments covering [off, off+n),
	// which lies within virtualSize. precise asks a raw layer to tell holes
	// from data (for the allocation map); readers do not need it.
	mapRange(off, n int64, precise bool, fn func(segment) error) error
	// read fills p with the guest bytes at off of segment s, which holds
	// [off, off+len(p)) and is data or compressed.
	read(p []byte, s segment, off int64) error
	close() error
}

// readHost reads p at host offset off of f; bytes past the end of the file
// read as zeros, as QEMU's file driver does.
func readHost(f *os.File, p []byte, off int64) error {
	n, err := f.ReadAt(p, off)
	if err == io.EOF {
		clear(p[n:])
		return nil
	}
	return err
}
