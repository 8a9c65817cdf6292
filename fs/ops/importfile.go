package ops

import (
	"context"
	"fmt"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// ImportHandle is a NAME.boxsnap being written into import/ (SPEC 2.3). The
// bytes go straight into an engine import session; the write that reveals a
// bad archive fails with EBADMSG, and the flush after the last byte creates
// the box (or fails for a truncated archive). Release drops whatever was not
// committed. done runs once the import ended (at the flush that completed
// or refused it, or at release) so that the file leaves import/ by the time
// close(2) returns.
type ImportHandle struct {
	intake
	session *snapshot.ImportSession
}

var (
	_ fs.FileWriter    = (*ImportHandle)(nil)
	_ fs.FileFlusher   = (*ImportHandle)(nil)
	_ fs.FileReleaser  = (*ImportHandle)(nil)
	_ fs.FileGetattrer = (*ImportHandle)(nil)
	_ fs.FileSetattrer = (*ImportHandle)(nil)
)

// NewImportHandle feeds session; done runs once, when the import ended.
func NewImportHandle(session *snapshot.ImportSession, log *Log, path string, done func()) *ImportHandle {
	return &ImportHandle{
		intake:  intake{log: log, path: path, drop: session.Abort, onEnd: done, taken: "the archive was already imported"},
		session: session,
	}
}

// Write feeds the next bytes of the archive, which come in order; a hole
// that a sparse-aware copy seeked over is fed as the zeros it reads as.
func (h *ImportHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if errno := h.refusalLocked("import"); errno != 0 {
		return 0, errno
	}
	n, err := h.appendLocked(h.session, data, off)
	if err != nil {
		return uint32(n), h.failLocked("import", err)
	}
	return uint32(n), 0
}

// Flush creates the box once bytes have come. A flush before any byte (the
// shell closing a duplicate descriptor) has nothing to do.
func (h *ImportHandle) Flush(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if errno, pending := h.pendingLocked(); !pending || h.size == 0 {
		return errno
	}
	err := h.takeLocked(func() error {
		_, err := h.session.Close(context.WithoutCancel(ctx))
		return err
	})
	return h.log.Done("import", h.path, err)
}

// Setattr accepts the truncation of the new empty file by O_TRUNC, and an
// extension to the final size (cp's ftruncate after a trailing hole, such
// as a plain tar's zero padding); shrinking what came is EINVAL.
func (h *ImportHandle) Setattr(ctx context.Context, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if size, ok := in.GetSize(); ok && int64(size) != h.size {
		if errno := h.refusalLocked("import"); errno != 0 {
			return errno
		}
		if int64(size) < h.size {
			return h.failLocked("import", fmt.Errorf("size %d after %d bytes: an archive is taken in order: %w", size, h.size, errdefs.ErrInvalid))
		}
		if err := h.growLocked(h.session, int64(size)); err != nil {
			return h.failLocked("import", err)
		}
	}
	out.Size = uint64(h.size)
	return 0
}

// Release aborts an import that was not completed.
func (h *ImportHandle) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.ended {
		h.dropLocked()
		if h.size > 0 {
			h.log.Done("import", h.path, fmt.Errorf("closed before the archive was complete: %w", errdefs.ErrCorrupt))
		}
	}
	return 0
}
