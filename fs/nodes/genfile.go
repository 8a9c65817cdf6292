package nodes

import (
	"context"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/boxlite-ai/boxlitefs/fs/ops"
)

// genFile is a read-only file whose content is generated from the engine's
// state (box.json, snapshot.json, README, log). Each open sees the content
// as it was at the open.
type genFile struct {
	fs.Inode
	env     *env
	ino     uint64
	time    time.Time
	content func(ctx context.Context) ([]byte, error)
}

var (
	_ node                  = (*genFile)(nil)
	_ fs.NodeOpener         = (*genFile)(nil)
	_ fs.NodeSetattrer      = (*genFile)(nil)
	_ fs.NodeCopyFileRanger = (*genFile)(nil)
)

func (n *genFile) stable() fs.StableAttr {
	return fs.StableAttr{Mode: syscall.S_IFREG, Ino: n.ino}
}

// Getattr reports the size of the content as it is now.
func (n *genFile) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	return n.fill(ctx, modeReadOnly, out)
}

// fill describes the file with the size of its content now.
func (n *genFile) fill(ctx context.Context, mode uint32, out *fuse.AttrOut) syscall.Errno {
	data, err := n.content(ctx)
	if err != nil {
		return n.env.done("stat", n.Path(nil), err)
	}
	attrs(&out.Attr, n.ino, mode, int64(len(data)), n.time)
	return 0
}

// Open serves the content as of now; opening for writing is EACCES.
func (n *genFile) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		return nil, 0, n.env.readOnly("open for writing", n.Path(nil))
	}
	data, err := n.content(ctx)
	if err != nil {
		return nil, 0, n.env.done("open", n.Path(nil), err)
	}
	return ops.NewContentHandle(data), ops.QuietCloseFlags, 0
}

// Setattr refuses: nothing generated can be truncated or changed.
func (n *genFile) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return n.env.readOnly("setattr", n.Path(nil))
}

// CopyFileRange lets a copy into clones/ take the content in one request
// (cp tries copy_file_range first); other destinations fall back to read
// and write.
func (n *genFile) CopyFileRange(ctx context.Context, fhIn fs.FileHandle, offIn uint64, out *fs.Inode,
	fhOut fs.FileHandle, offOut uint64, length uint64, flags uint64) (uint32, syscall.Errno) {
	return ops.CopyFileRange(ctx, fhIn, offIn, fhOut, offOut, length)
}
