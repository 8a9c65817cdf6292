package qcow2

import (
	"context"
	"io"
)

// CreateOptions shapes a new image.
type CreateOptions struct {
	// ClusterBits; 0 = 16 (64 KiB clusters).
	ClusterBits int
	// BackingFile, if set, makes an overlay. The name is written as given;
	// a relative name resolves against the overlay's directory, as QEMU
	// does. The backing file is not opened.
	BackingFile string
	// BackingFormat is written as the backing-format header extension.
	BackingFormat Format
	// NoSync skips syncing the file and its directory entry, for a caller
	// that can make the file again after a crash (an empty overlay is a pure
	// function of its backing name and size) or syncs it itself.
	NoSync bool
}

// Create makes a new empty qcow2 v3 image of size bytes (rounded up to a
// whole sector, as qemu-img does) at path, which must not exist. The file
// and its directory entry are synced before it returns, unless NoSync. It writes the same
// few kilobytes whatever the size: the empty L1 table is a hole.
func Create(path string, size int64, opts CreateOptions) error {
	if size < 0 {
		return errInvalid("negative size %d", size)
	}
	flat, err := Flatten(context.Background(), emptySource{size: size}, FlattenOptions(opts))
	if err != nil {
		return err
	}
	return flat.writeFile(context.Background(), path)
}

// emptySource is a disk on which nothing is allocated.
type emptySource struct{ size int64 }

func (e emptySource) Size() int64 { return e.size }

func (e emptySource) ReadAt(p []byte, off int64) (int, error) {
	n := max(0, min(int64(len(p)), e.size-off))
	clear(p[:n])
	if n < int64(len(p)) {
		return int(n), io.EOF
	}
	return int(n), nil
}

func (e emptySource) Extents(ctx context.Context, off, length int64, fn func(Extent) error) error {
	if n := min(length, e.size-off); n > 0 {
		return fn(Extent{Offset: off, Length: n, Kind: Unallocated, Layer: -1})
	}
	return nil
}
