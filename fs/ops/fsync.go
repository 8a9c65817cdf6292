package ops

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
)

// Every open file of the mount answers fsync(2): dd conv=fsync, editors and
// scripts that sync what they wrote fail on an error from it, and go-fuse
// answers ENOTSUP for a handle that has no Fsync. Nothing needs syncing
// here: generated content is made again from the engine, a control
// file's write was applied durably when it came, and what a write handle
// received is staged until the flush hands it over, when the engine makes
// what it stores durable. A write handle that a refusal ended reports it
// again, so that a writer that checks fsync but not close still sees it.

var (
	_ fs.FileFsyncer = (*ContentHandle)(nil)
	_ fs.FileFsyncer = (*DiskReadHandle)(nil)
	_ fs.FileFsyncer = (*ExportHandle)(nil)
	_ fs.FileFsyncer = (*intake)(nil)
)

// Fsync has nothing to sync.
func (h *ContentHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno { return 0 }

// Fsync has nothing to sync.
func (h *DiskReadHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno { return 0 }

// Fsync has nothing to sync.
func (h *ExportHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno { return 0 }

// Fsync reports the refusal that ended the handle, if any.
func (in *intake) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	in.mu.Lock()
	defer in.mu.Unlock()
	return Errno(in.err)
}
