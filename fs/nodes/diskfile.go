package nodes

import (
	"context"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/core/snapshot"
	"github.com/boxlite-ai/boxlitefs/fs/ops"
)

// diskFile is guest-rootfs.qcow2 or disk.qcow2 of a box (read-write) or of a
// snapshot (read-only): reading gives one standalone qcow2 generated on the
// fly (SPEC 2.2); writing a whole image into a box's disk replaces it;
// copy_file_range from another disk file of the mount replaces it by
// reference.
type diskFile struct {
	fs.Inode
	env  *env
	ref  stateRef
	disk snapshot.Disk
	time time.Time

	mu      sync.Mutex
	writers map[*ops.DiskWriteHandle]bool // open for writing, to relay O_TRUNC
}

var (
	_ node                  = (*diskFile)(nil)
	_ fs.NodeOpener         = (*diskFile)(nil)
	_ fs.NodeSetattrer      = (*diskFile)(nil)
	_ fs.NodeCopyFileRanger = (*diskFile)(nil)
	_ fs.NodeReleaser       = (*diskFile)(nil)
)

func (n *diskFile) ino() uint64 { return inoOf(n.ref.key() + "/" + n.disk.FileName()) }

func (n *diskFile) stable() fs.StableAttr {
	return fs.StableAttr{Mode: syscall.S_IFREG, Ino: n.ino()}
}

func (n *diskFile) writable() bool { return n.ref.snapID == "" }

// Getattr reports the exact size of the standalone image: an open file's
// view (fstat), or else the engine's size of the disk, which does not
// capture a running box: only open does.
func (n *diskFile) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	mode := uint32(modeReadOnly)
	if n.writable() {
		mode = modeWritable
	}
	attrs(&out.Attr, n.ino(), mode, 0, n.time)
	if errno, ok := handleAttr(ctx, fh, out); ok {
		return errno
	}
	size, err := n.ref.diskSize(ctx, n.env, n.disk)
	if err != nil {
		return n.env.done("stat", n.Path(nil), err)
	}
	setSize(&out.Attr, uint64(size))
	if !n.writable() {
		out.SetTimeout(fixedTimeout) // a snapshot's disk never changes
	}
	return 0
}

// Open for reading takes a point-in-time view; open for writing starts
// receiving a new image (a box's disk only, and only while it is stopped).
func (n *diskFile) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	path := n.Path(nil)
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		if !n.writable() {
			return nil, 0, n.env.refuse("open for writing", path, "a snapshot's disk is frozen", errdefs.ErrReadOnly)
		}
		box, _, err := n.ref.resolve(ctx, n.env)
		if err != nil {
			return nil, 0, n.env.done("open for writing", path, err)
		}
		w, err := box.NewDiskWriter(ctx, n.disk)
		if err != nil {
			return nil, 0, n.env.done("open for writing", path, err)
		}
		h := ops.NewDiskWriteHandle(box, n.disk, w, n.env.log, path)
		n.mu.Lock()
		if n.writers == nil {
			n.writers = map[*ops.DiskWriteHandle]bool{}
		}
		n.writers[h] = true
		n.mu.Unlock()
		return h, ops.OpenFlags, 0
	}
	view, err := n.ref.openDisk(ctx, n.env, n.disk)
	if err != nil {
		return nil, 0, n.env.done("open", path, err)
	}
	// The kernel may still hold the size from before a box's disk changed:
	// drop it so that fstat after this open sees this view's size (cp and
	// copy_file_range rely on it). Attributes only: safe inside a request.
	// A snapshot's disk never changes.
	if n.writable() {
		n.NotifyContent(-1, 0)
	}
	return ops.NewDiskReadHandle(view, n.env.log, path), ops.QuietCloseFlags, 0
}

// Setattr lets an open write handle take cp's final ftruncate. A
// truncation to 0 without a handle is the O_TRUNC of an open for writing
// (FUSE sends it without the handle) and changes nothing by itself: only a
// whole image written afterwards replaces the disk.
func (n *diskFile) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	attrs(&out.Attr, n.ino(), modeWritable, 0, n.time)
	if errno, ok := handleSetattr(ctx, fh, in, out); ok {
		return errno
	}
	if !n.writable() {
		return n.env.refuse("truncate", n.Path(nil), "a snapshot's disk is frozen", errdefs.ErrReadOnly)
	}
	if size, ok := in.GetSize(); ok {
		if size != 0 {
			return n.env.refuse("truncate", n.Path(nil), "write a whole image into the disk file instead", errdefs.ErrInvalid)
		}
		n.mu.Lock()
		for h := range n.writers {
			h.Truncated()
		}
		n.mu.Unlock()
	}
	return n.Getattr(ctx, nil, out)
}

// Release forgets a write handle and lets the handle clean up.
func (n *diskFile) Release(ctx context.Context, fh fs.FileHandle) syscall.Errno {
	if h, ok := fh.(*ops.DiskWriteHandle); ok {
		n.mu.Lock()
		delete(n.writers, h)
		n.mu.Unlock()
	}
	if r, ok := fh.(fs.FileReleaser); ok {
		return r.Release(ctx)
	}
	return 0
}

// CopyFileRange is called on the source file: the destination's handle
// decides whether it can take the copy by reference.
func (n *diskFile) CopyFileRange(ctx context.Context, fhIn fs.FileHandle, offIn uint64, out *fs.Inode,
	fhOut fs.FileHandle, offOut uint64, length uint64, flags uint64) (uint32, syscall.Errno) {
	return ops.CopyFileRange(ctx, fhIn, offIn, fhOut, offOut, length)
}
