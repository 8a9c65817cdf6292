package ops

import (
	"context"
	"math"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
)

// CopyTarget is an open file of the mount that can complete a
// copy_file_range from another open file of the mount without moving bytes
// (a disk file adopting another disk's state by reference). GNU cp tries
// copy_file_range first, and FUSE forwards it with both files.
type CopyTarget interface {
	CopyFrom(ctx context.Context, src fs.FileHandle, offIn, offOut, length uint64) (uint32, syscall.Errno)
}

// CopyFileRange routes a copy_file_range to its destination handle. When the
// destination cannot take it by reference, EOPNOTSUPP makes the kernel fall
// back to copying the bytes through read and write (ENOSYS would disable
// copy_file_range for the whole mount).
func CopyFileRange(ctx context.Context, src fs.FileHandle, offIn uint64, dst fs.FileHandle, offOut, length uint64) (uint32, syscall.Errno) {
	t, ok := dst.(CopyTarget)
	if !ok {
		return 0, syscall.EOPNOTSUPP
	}
	return t.CopyFrom(ctx, src, offIn, offOut, length)
}

// maxCopyReply bounds what one copy_file_range reply acknowledges: the
// reply's count has 32 bits. The kernel asks again for the rest.
const maxCopyReply = math.MaxUint32 &^ (4<<10 - 1)

// copyReply is the count acknowledged for a range of length bytes at off
// of a source of size bytes: what is left of the source, at most the
// range, at most one reply's worth.
func copyReply(length, size, off uint64) uint32 {
	if off >= size {
		return 0
	}
	return uint32(min(length, size-off, maxCopyReply))
}
