package ops

import (
	"context"
	"fmt"
	"io"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// DiskWriteHandle is a disk file opened for writing (SPEC 2.2, bring your
// own disk): the bytes of a whole image, written from offset 0, replace the
// disk when the file is flushed (close), after the engine verified them. A
// copy_file_range from another disk file of the mount replaces the disk by
// reference instead, in O(1).
type DiskWriteHandle struct {
	intake
	box  *snapshot.Box
	disk snapshot.Disk
	w    *snapshot.DiskWriter
	out  io.Writer // w, written in order

	truncated bool   // the file was emptied (O_TRUNC): a first write past 0 leaves a hole
	copied    uint64 // bytes of a copy by reference acknowledged so far
	copyRef   *snapshot.DiskRef
}

var (
	_ fs.FileWriter    = (*DiskWriteHandle)(nil)
	_ fs.FileFlusher   = (*DiskWriteHandle)(nil)
	_ fs.FileReleaser  = (*DiskWriteHandle)(nil)
	_ fs.FileSetattrer = (*DiskWriteHandle)(nil)
	_ fs.FileGetattrer = (*DiskWriteHandle)(nil)
	_ CopyTarget       = (*DiskWriteHandle)(nil)
)

// NewDiskWriteHandle receives a new image for disk d of box through w.
func NewDiskWriteHandle(box *snapshot.Box, d snapshot.Disk, w *snapshot.DiskWriter, log *Log, path string) *DiskWriteHandle {
	return &DiskWriteHandle{
		intake: intake{log: log, path: path, drop: w.Abort, taken: "the disk was already replaced through this open file"},
		box:    box, disk: d, w: w, out: io.NewOffsetWriter(w, 0),
	}
}

// Truncated tells the handle that its file was emptied, as O_TRUNC does
// (FUSE sends that truncation without the handle, so the node relays it):
// from then on a write past the end, even the first, leaves a hole.
func (h *DiskWriteHandle) Truncated() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.truncated = true
}

// Write appends image bytes (see appendLocked for holes). A first write
// past offset 0 into a file that was not emptied would change part of a
// disk, which is EINVAL.
func (h *DiskWriteHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if errno := h.refusalLocked("write"); errno != 0 {
		return 0, errno
	}
	switch {
	case h.copyRef != nil:
		return 0, h.failLocked("write", fmt.Errorf("the disk is being copied by reference: %w", errdefs.ErrInvalid))
	case h.size == 0 && off != 0 && !h.truncated:
		return 0, h.failLocked("write", fmt.Errorf("first write at %d: a disk file takes a whole image written from offset 0: %w", off, errdefs.ErrInvalid))
	}
	n, err := h.appendLocked(h.out, data, off)
	if err != nil {
		return uint32(n), h.failLocked("write", err)
	}
	return uint32(n), 0
}

// Setattr accepts a truncation to 0 before anything was written (open with
// O_TRUNC, `cat img > disk.qcow2`) and an extension to the final size
// (cp's ftruncate after a trailing hole); any other size is EINVAL.
func (h *DiskWriteHandle) Setattr(ctx context.Context, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if size, ok := in.GetSize(); ok && int64(size) != h.size {
		if errno := h.refusalLocked("truncate"); errno != 0 {
			return errno
		}
		if int64(size) < h.size || h.size == 0 && !h.truncated || h.copyRef != nil {
			return h.failLocked("truncate", fmt.Errorf("size %d after %d bytes: a disk file takes a whole image written from offset 0: %w",
				size, h.size, errdefs.ErrInvalid))
		}
		if err := h.growLocked(h.out, int64(size)); err != nil {
			return h.failLocked("truncate", err)
		}
	}
	out.Size = uint64(h.size)
	return 0
}

// Flush commits a received image: its verification error reaches cp and
// Python (bash drops it; SPEC 2.1). A flush before any byte came (the shell
// closing a duplicate descriptor) has nothing to do.
func (h *DiskWriteHandle) Flush(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	errno, pending := h.pendingLocked()
	switch {
	case !pending:
		return errno
	case h.copyRef != nil:
		return h.failLocked("copy", fmt.Errorf("copied %d bytes by reference, not the whole disk: %w", h.copied, errdefs.ErrInvalid))
	case h.size == 0:
		return 0
	}
	err := h.takeLocked(func() error { return h.w.Commit(context.WithoutCancel(ctx)) })
	return h.log.Done("replace disk", h.path, err)
}

// Release drops whatever was not committed.
func (h *DiskWriteHandle) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropLocked()
	return 0
}

// CopyFrom takes a copy_file_range from a disk file of the mount by
// reference: once the ranges acknowledged cover the whole source image (cp
// sends them in order, up to 4 GiB each), this disk adopts the source's
// state. Anything else falls back to copying bytes.
func (h *DiskWriteHandle) CopyFrom(ctx context.Context, src fs.FileHandle, offIn, offOut, length uint64) (uint32, syscall.Errno) {
	from, ok := src.(*DiskReadHandle)
	if !ok {
		return 0, syscall.EOPNOTSUPP
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	size := uint64(from.Size())
	ref := from.Ref()
	if errno := h.refusalLocked("copy"); errno != 0 {
		return 0, errno
	}
	switch {
	case h.copyRef == nil && (offIn != 0 || offOut != 0 || h.size != 0):
		return 0, syscall.EOPNOTSUPP // not a whole-file copy: let the kernel move bytes
	case h.copyRef != nil && (*h.copyRef != ref || offIn != h.copied || offOut != h.copied):
		return 0, h.failLocked("copy", fmt.Errorf("copy ranges out of order: %w", errdefs.ErrInvalid))
	}
	h.copyRef = &ref
	n := uint64(copyReply(length, size, h.copied))
	if h.copied+n == size {
		if err := h.box.AdoptDisk(context.WithoutCancel(ctx), h.disk, ref); err != nil {
			return 0, h.failLocked("copy", err)
		}
		h.dropLocked() // the disk is the source's state now: nothing written is kept
		h.log.Done("copy by reference", h.path, nil)
	}
	h.copied += n
	return uint32(n), 0
}
