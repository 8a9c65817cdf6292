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

// IncomingHandle is a file being copied into clones/NAME (SPEC 2.4). Bytes
// written go to the engine, which keeps only what differs from the box the
// copy comes from; a copy_file_range from a disk file of the mount hands
// the engine the source disk by reference instead, in O(1). The engine
// interprets the file when it is flushed, so that cp and Python report a
// refusal (bash would drop it; a bad name was refused at open already).
type IncomingHandle struct {
	intake
	target   *snapshot.CloneTarget
	in       *snapshot.Incoming
	rel      string // the file's path inside the target
	released func()

	used   bool              // written or truncated: there is something to interpret
	copied *snapshot.DiskRef // the disk this file was copied from by reference
}

var (
	_ fs.FileWriter    = (*IncomingHandle)(nil)
	_ fs.FileFlusher   = (*IncomingHandle)(nil)
	_ fs.FileReleaser  = (*IncomingHandle)(nil)
	_ fs.FileSetattrer = (*IncomingHandle)(nil)
	_ fs.FileGetattrer = (*IncomingHandle)(nil)
	_ CopyTarget       = (*IncomingHandle)(nil)
)

// NewIncomingHandle receives the file rel of target through in; released
// runs at release.
func NewIncomingHandle(target *snapshot.CloneTarget, in *snapshot.Incoming, rel string, log *Log, path string, released func()) *IncomingHandle {
	return &IncomingHandle{
		intake: intake{log: log, path: path, drop: in.Abort, taken: "the file was already taken in"},
		target: target, in: in, rel: rel, released: released,
	}
}

// Write receives bytes at off.
func (h *IncomingHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.writeLocked(data, off)
}

func (h *IncomingHandle) writeLocked(data []byte, off int64) (uint32, syscall.Errno) {
	if errno := h.refusalLocked("write"); errno != 0 {
		return 0, errno
	}
	if h.copied != nil {
		return 0, h.failLocked("write", fmt.Errorf("the file was copied by reference: %w", errdefs.ErrInvalid))
	}
	n, err := h.in.WriteAt(data, off)
	h.used = true
	h.size = max(h.size, off+int64(n))
	if err != nil {
		return uint32(n), h.failLocked("write", err)
	}
	return uint32(n), 0
}

// Setattr takes a truncation (O_TRUNC, cp's ftruncate after a trailing
// hole); modes, times and owners are accepted and not kept (cp -p, rsync
// and shutil set them on every file they copy).
func (h *IncomingHandle) Setattr(ctx context.Context, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if size, ok := in.GetSize(); ok && int64(size) != h.size {
		if errno := h.refusalLocked("truncate"); errno != 0 {
			return errno
		}
		if h.copied != nil {
			return h.failLocked("truncate", fmt.Errorf("the file was copied by reference: %w", errdefs.ErrInvalid))
		}
		if err := h.in.Truncate(int64(size)); err != nil {
			return h.failLocked("truncate", err)
		}
		h.used, h.size = true, int64(size)
	}
	out.Size = uint64(h.size)
	return 0
}

// Flush hands the file to the engine. A flush before anything came (the
// shell closing a duplicate descriptor) leaves it open; release ends it.
func (h *IncomingHandle) Flush(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if errno, pending := h.pendingLocked(); !pending || !h.used && h.copied == nil {
		return errno
	}
	return h.finishLocked(ctx)
}

// Release ends a file that was never flushed with content (an empty file,
// like a copy of `restore`).
func (h *IncomingHandle) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	if !h.ended {
		h.finishLocked(ctx)
	}
	h.mu.Unlock()
	h.released()
	return 0
}

// finishLocked has the engine interpret what came, or drops the file when
// it was copied by reference (the engine took the copy then).
func (h *IncomingHandle) finishLocked(ctx context.Context) syscall.Errno {
	if h.copied != nil {
		h.dropLocked()
		return 0
	}
	if err := h.takeLocked(func() error { return h.in.Close(context.WithoutCancel(ctx)) }); err != nil {
		return h.log.Done("copy into", h.path, err)
	}
	return 0
}

// CopyFrom takes a copy_file_range from a disk file of the mount: the
// engine gets the source disk by reference at the first range, and every
// range is acknowledged whole, so cp's loop ends at once. A generated file
// (box.json, a setting) is copied here, in one request instead of cp's
// read and write. Anything else falls back to copying bytes.
func (h *IncomingHandle) CopyFrom(ctx context.Context, src fs.FileHandle, offIn, offOut, length uint64) (uint32, syscall.Errno) {
	if c, ok := src.(contentSource); ok {
		return h.copyContent(c.content(), offIn, offOut, length)
	}
	from, ok := src.(*DiskReadHandle)
	if !ok {
		return 0, syscall.EOPNOTSUPP
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	ref := from.Ref()
	if errno := h.refusalLocked("copy"); errno != 0 {
		return 0, errno
	}
	switch {
	case h.copied == nil && (h.used || offIn != 0 || offOut != 0):
		return 0, syscall.EOPNOTSUPP // not a whole-file copy: let the kernel move bytes
	case h.copied != nil && (*h.copied != ref || offIn != offOut):
		return 0, h.failLocked("copy", fmt.Errorf("copy ranges from another file or out of place: %w", errdefs.ErrInvalid))
	case h.copied == nil:
		if err := h.target.CopyFrom(context.WithoutCancel(ctx), h.rel, ref); err != nil {
			return 0, h.failLocked("copy", err)
		}
		h.copied = &ref
		h.log.Done("copy by reference", h.path, nil)
	}
	n := copyReply(length, uint64(from.Size()), offIn)
	h.size = max(h.size, int64(offOut+uint64(n)))
	return n, 0
}

// copyContent writes what a range of generated content holds. The kernel
// caps a range at the size it last heard of the source: one that stops
// short of the content's end (the content grew since) falls back to read
// and write, which go on to the end.
func (h *IncomingHandle) copyContent(data []byte, offIn, offOut, length uint64) (uint32, syscall.Errno) {
	if offIn > uint64(len(data)) || length < uint64(len(data))-offIn {
		return 0, syscall.EOPNOTSUPP
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.writeLocked(data[offIn:], int64(offOut))
}
