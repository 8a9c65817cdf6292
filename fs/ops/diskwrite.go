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

// DiskWriteHandle is a disk file opened for writing (SPEC 2.2, bring your
// own disk): the bytes of a whole image, written from offset 0, replace the
// disk when the file is flushed (close), after the engine verified them. A
// copy_file_range from another disk file of the mount replaces the disk by
// reference instead, in O(1).
type DiskWriteHandle struct {
	box  *snapshot.Box
	disk snapshot.Disk
	log  *Log
	path string

	mu        sync.Mutex
	w         *snapshot.DiskWriter
	truncated bool   // the file was emptied (O_TRUNC): a first write past 0 leaves a hole
	copied    uint64 // bytes of a copy by reference acknowledged so far
	copyRef   *snapshot.DiskRef
	done      bool  // the image was committed or adopted
	err       error // why the handle refuses further work
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
	return &DiskWriteHandle{box: box, disk: d, w: w, log: log, path: path}
}

// Truncated tells the handle that its file was emptied, as O_TRUNC does
// (FUSE sends that truncation without the handle, so the node relays it):
// from then on a write past the end, even the first, leaves a hole.
func (h *DiskWriteHandle) Truncated() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.truncated = true
}

// Write appends image bytes. A write past the end first fills the gap with
// zeros, a hole that a sparse-aware copy (cp, dd) seeked over; but a first
// write past offset 0 into a file that was not emptied would change part of
// a disk, which is EINVAL. A write before the end is EINVAL.
func (h *DiskWriteHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.usable(); err != nil {
		return 0, h.log.Done("write", h.path, err)
	}
	if h.copyRef != nil {
		return 0, h.fail("write", fmt.Errorf("the disk is being copied by reference: %w", errdefs.ErrInvalid))
	}
	if h.w.Size() == 0 && off != 0 && !h.truncated {
		return 0, h.fail("write", fmt.Errorf("first write at %d: a disk file takes a whole image written from offset 0: %w", off, errdefs.ErrInvalid))
	}
	if err := h.extendTo(off); err != nil {
		return 0, h.fail("write", err)
	}
	n, err := h.w.WriteAt(data, off)
	if err != nil {
		return uint32(n), h.fail("write", err)
	}
	return uint32(n), 0
}

// extendTo writes zeros up to off: sparse-aware writers (cp, dd
// conv=sparse) seek over holes, a hole reads as zeros, and the engine takes
// only sequential bytes.
func (h *DiskWriteHandle) extendTo(off int64) error {
	var zeros []byte
	for pos := h.w.Size(); pos < off; pos = h.w.Size() {
		if zeros == nil {
			zeros = make([]byte, min(off-pos, 1<<20))
		}
		chunk := zeros[:min(off-pos, int64(len(zeros)))]
		if _, err := h.w.WriteAt(chunk, pos); err != nil {
			return err
		}
	}
	return nil
}

// Setattr accepts a truncation to 0 before anything was written (open with
// O_TRUNC, `cat img > disk.qcow2`) and an extension to the final size
// (cp's ftruncate after a trailing hole); any other size is EINVAL.
func (h *DiskWriteHandle) Setattr(ctx context.Context, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if size, ok := in.GetSize(); ok {
		switch written := h.w.Size(); {
		case int64(size) == written:
		case int64(size) > written && (written > 0 || h.truncated) && h.copyRef == nil && h.usable() == nil:
			if err := h.extendTo(int64(size)); err != nil {
				return h.fail("truncate", err)
			}
		default:
			return h.fail("truncate", fmt.Errorf("size %d after %d bytes: a disk file takes a whole image written from offset 0: %w",
				size, written, errdefs.ErrInvalid))
		}
	}
	out.Size = uint64(h.w.Size())
	return 0
}

// Getattr reports how much was received.
func (h *DiskWriteHandle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	out.Size = uint64(h.w.Size())
	return 0
}

// Flush commits a received image: its verification error reaches cp and
// Python (bash drops it; SPEC 2.1). A flush before any byte came (the shell
// closing a duplicate descriptor) has nothing to do.
func (h *DiskWriteHandle) Flush(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.err != nil:
		return Errno(h.err)
	case h.done:
		return 0
	case h.copyRef != nil:
		return h.fail("copy", fmt.Errorf("copied %d bytes by reference, not the whole disk: %w", h.copied, errdefs.ErrInvalid))
	case h.w.Size() == 0:
		return 0
	}
	err := h.w.Commit(context.WithoutCancel(ctx))
	h.done = err == nil
	if err != nil {
		h.err = err
	}
	return h.log.Done("replace disk", h.path, err)
}

// Release drops whatever was not committed.
func (h *DiskWriteHandle) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.w.Abort()
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
	switch {
	case h.usable() != nil:
		return 0, h.log.Done("copy", h.path, h.usable())
	case h.copyRef == nil && (offIn != 0 || offOut != 0 || h.w.Size() != 0):
		return 0, syscall.EOPNOTSUPP // not a whole-file copy: let the kernel move bytes
	case h.copyRef != nil && (*h.copyRef != ref || offIn != h.copied || offOut != h.copied):
		return 0, h.fail("copy", fmt.Errorf("copy ranges out of order: %w", errdefs.ErrInvalid))
	}
	h.copyRef = &ref
	n := uint64(copyReply(length, size, h.copied))
	if h.copied+n == size {
		if err := h.box.AdoptDisk(context.WithoutCancel(ctx), h.disk, ref); err != nil {
			return 0, h.fail("copy", err)
		}
		h.done = true
		h.log.Done("copy by reference", h.path, nil)
	}
	h.copied += n
	return uint32(n), 0
}

// usable says why the handle takes no more data, if it does not.
func (h *DiskWriteHandle) usable() error {
	switch {
	case h.err != nil:
		return h.err
	case h.done:
		return fmt.Errorf("the disk was already replaced through this open file: %w", errdefs.ErrInvalid)
	}
	return nil
}

// fail records err as the reason this handle refuses further work.
func (h *DiskWriteHandle) fail(op string, err error) syscall.Errno {
	h.err = err
	return h.log.Done(op, h.path, err)
}
