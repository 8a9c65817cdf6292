package ops

import (
	"context"
	"errors"
	"io"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// DiskReadHandle is an open disk file (SPEC 2.2): one point-in-time view of
// the disk as a standalone qcow2, taken at open, with random access. A
// snapshot, restore or remove after the open does not change what it reads.
type DiskReadHandle struct {
	view *snapshot.DiskView
	log  *Log
	path string
}

var (
	_ fs.FileReader    = (*DiskReadHandle)(nil)
	_ fs.FileGetattrer = (*DiskReadHandle)(nil)
	_ fs.FileReleaser  = (*DiskReadHandle)(nil)
)

// NewDiskReadHandle serves view and closes it on release.
func NewDiskReadHandle(view *snapshot.DiskView, log *Log, path string) *DiskReadHandle {
	return &DiskReadHandle{view: view, log: log, path: path}
}

// Size is the exact size of the standalone image this open sees.
func (h *DiskReadHandle) Size() int64 { return h.view.Size() }

// Ref says which disk state the view holds, for copies inside the mount.
func (h *DiskReadHandle) Ref() snapshot.DiskRef { return h.view.Ref() }

// Read serves any range; reads past the end are short or empty.
func (h *DiskReadHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if off >= h.view.Size() {
		return fuse.ReadResultData(nil), 0
	}
	if rest := h.view.Size() - off; int64(len(dest)) > rest {
		dest = dest[:rest]
	}
	n, err := h.view.ReadAt(dest, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, h.log.Done("read", h.path, err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// Getattr reports the view's size, which may differ from the disk's size
// now if the box changed since the open.
func (h *DiskReadHandle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	out.Size = uint64(h.view.Size())
	return 0
}

// Release drops the view and the layers it held.
func (h *DiskReadHandle) Release(ctx context.Context) syscall.Errno {
	if err := h.view.Close(); err != nil {
		h.log.Done("close", h.path, err)
	}
	return 0
}
