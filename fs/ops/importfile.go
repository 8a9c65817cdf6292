package ops

import (
	"context"
	"fmt"
	"sync"
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
	log      *Log
	path     string
	done     func()
	doneOnce sync.Once

	mu      sync.Mutex
	session *snapshot.ImportSession
	pos     int64
	closed  bool  // the session was closed or aborted
	err     error // why the import failed
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
	return &ImportHandle{session: session, log: log, path: path, done: done}
}

// Write feeds the next bytes of the archive, which must come in order.
func (h *ImportHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.err != nil:
		return 0, Errno(h.err)
	case h.closed:
		return 0, h.fail(fmt.Errorf("the archive was already imported: %w", errdefs.ErrInvalid))
	case off != h.pos:
		return 0, h.fail(fmt.Errorf("write at %d after %d bytes: an archive is taken in order: %w", off, h.pos, errdefs.ErrInvalid))
	}
	n, err := h.session.Write(data)
	h.pos += int64(n)
	if err != nil {
		return uint32(n), h.fail(err)
	}
	return uint32(n), 0
}

// Flush creates the box once bytes have come. A flush before any byte (the
// shell closing a duplicate descriptor) has nothing to do.
func (h *ImportHandle) Flush(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.err != nil:
		return Errno(h.err)
	case h.closed, h.pos == 0:
		return 0
	}
	h.closed = true
	_, err := h.session.Close(context.WithoutCancel(ctx))
	if err != nil {
		h.err = err
	}
	h.doneOnce.Do(h.done)
	return h.log.Done("import", h.path, err)
}

// Setattr accepts the truncation of the new empty file by O_TRUNC.
func (h *ImportHandle) Setattr(ctx context.Context, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if size, ok := in.GetSize(); ok && int64(size) != h.pos {
		return h.log.Done("truncate", h.path, fmt.Errorf("an archive is taken in order: %w", errdefs.ErrInvalid))
	}
	out.Size = uint64(h.pos)
	return 0
}

// Getattr reports the bytes received so far.
func (h *ImportHandle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	out.Size = uint64(h.pos)
	return 0
}

// Release aborts an import that was not completed.
func (h *ImportHandle) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		h.session.Abort()
		if h.err == nil && h.pos > 0 {
			h.log.Done("import", h.path, fmt.Errorf("closed before the archive was complete: %w", errdefs.ErrCorrupt))
		}
	}
	h.mu.Unlock()
	h.doneOnce.Do(h.done)
	return 0
}

// fail aborts the session: a refused archive creates nothing.
func (h *ImportHandle) fail(err error) syscall.Errno {
	h.err = err
	if !h.closed {
		h.closed = true
		h.session.Abort()
	}
	h.doneOnce.Do(h.done)
	return h.log.Done("import", h.path, err)
}
