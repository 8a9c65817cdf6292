package nodes

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/fs/ops"
)

// receiveFile is a file that a copy into clones/ made. Opened for writing,
// it receives the file's bytes again; once the copy made its box, reading
// it gives what the box holds at that path (the disk the copy took by
// reference, the box's box.json), which is also its size.
type receiveFile struct {
	fs.Inode
	env  *env
	copy *cloneCopy
	rel  string
}

var (
	_ node                  = (*receiveFile)(nil)
	_ fs.NodeOpener         = (*receiveFile)(nil)
	_ fs.NodeSetattrer      = (*receiveFile)(nil)
	_ fs.NodeCopyFileRanger = (*receiveFile)(nil)
)

func (n *receiveFile) stable() fs.StableAttr {
	return fs.StableAttr{Mode: syscall.S_IFREG, Ino: n.copy.ino(n.rel)}
}

// Getattr reports an open file's size as received, else the size of what
// the box holds at this path, else the size the copy wrote.
func (n *receiveFile) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	attrs(&out.Attr, n.copy.ino(n.rel), modeWritable, 0, n.copy.created)
	if errno, ok := handleAttr(ctx, fh, out); ok {
		return errno
	}
	if f, ok := n.boxFile(ctx); ok {
		if size, err := f.size(ctx, n.env); err == nil {
			setSize(&out.Attr, uint64(size))
			return 0
		}
	}
	if size, ok := n.copy.target().Stat(n.rel); ok && size > 0 {
		setSize(&out.Attr, uint64(size))
	}
	return 0
}

// boxFile is what the box the copy made holds at this path, if any.
func (n *receiveFile) boxFile(ctx context.Context) (boxFile, bool) {
	box := n.copy.target().Box()
	if box == nil {
		return boxFile{}, false
	}
	return boxFileAt(ctx, n.env, box.ID(), n.rel)
}

// Open for writing receives the file anew; open for reading serves what
// the box holds at this path.
func (n *receiveFile) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	path := n.Path(nil)
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		h, errno := n.receive(ctx, "open for writing", path)
		if errno != 0 {
			return nil, 0, errno
		}
		return h, ops.OpenFlags, 0
	}
	f, ok := n.boxFile(ctx)
	if !ok {
		return nil, 0, n.env.refuse("open", path, "the bytes copied into a clone are not kept, only the box they make", errdefs.ErrReadOnly)
	}
	if f.disk != nil {
		view, err := f.disk.ref.openDisk(ctx, n.env, f.disk.disk)
		if err != nil {
			return nil, 0, n.env.done("open", path, err)
		}
		n.NotifyContent(-1, 0) // the kernel may hold the size the copy wrote (see diskFile.Open)
		return ops.NewDiskReadHandle(view, n.env.log, path), ops.QuietCloseFlags, 0
	}
	data, err := f.content(ctx)
	if err != nil {
		return nil, 0, n.env.done("open", path, err)
	}
	return ops.NewContentHandle(data), ops.QuietCloseFlags, 0
}

// receive opens the file for receiving its bytes. The open file keeps the
// copy from settling until it is released.
func (n *receiveFile) receive(ctx context.Context, op, path string) (*ops.IncomingHandle, syscall.Errno) {
	if err := n.copy.begin(); err != nil {
		return nil, n.env.done(op, path, err)
	}
	ct := n.copy.target()
	in, err := ct.Create(ctx, n.rel)
	if err != nil {
		n.copy.end()
		return nil, refused(ctx, n.env, n.copy, op, path, err)
	}
	return ops.NewIncomingHandle(ct, in, n.rel, n.env.log, path, n.copy.end), 0
}

// Setattr hands a truncation to the open file. Without one, a truncation
// to 0 is the O_TRUNC of an open for writing (FUSE sends it without the
// handle), and the file is received anew anyway; modes, times and owners
// are accepted and not kept.
func (n *receiveFile) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	attrs(&out.Attr, n.copy.ino(n.rel), modeWritable, 0, n.copy.created)
	if errno, ok := handleSetattr(ctx, fh, in, out); ok {
		return errno
	}
	if size, ok := in.GetSize(); ok && size != 0 {
		return n.env.refuse("truncate", n.Path(nil), "a file copied into a clone is truncated through the descriptor that writes it", errdefs.ErrInvalid)
	}
	return n.Getattr(ctx, nil, out)
}

// CopyFileRange lets a disk of the clone be the source of a copy by
// reference, as any disk file of the mount.
func (n *receiveFile) CopyFileRange(ctx context.Context, fhIn fs.FileHandle, offIn uint64, out *fs.Inode,
	fhOut fs.FileHandle, offOut uint64, length uint64, flags uint64) (uint32, syscall.Errno) {
	return ops.CopyFileRange(ctx, fhIn, offIn, fhOut, offOut, length)
}
