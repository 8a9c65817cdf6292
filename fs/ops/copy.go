package ops

import (
	"context"
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
