package nodes

import (
	"context"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// importFile is an archive being written into import/.
type importFile struct {
	fs.Inode
	env  *env
	ino  uint64
	time time.Time
}

var (
	_ node             = (*importFile)(nil)
	_ fs.NodeOpener    = (*importFile)(nil)
	_ fs.NodeSetattrer = (*importFile)(nil)
)

func (f *importFile) stable() fs.StableAttr { return fs.StableAttr{Mode: syscall.S_IFREG, Ino: f.ino} }

// Getattr reports the bytes received through the open handle.
func (f *importFile) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	attrs(&out.Attr, f.ino, modeWritable, 0, f.time)
	errno, _ := handleAttr(ctx, fh, out)
	return errno
}

// Open refuses a second open: an archive has one writer.
func (f *importFile) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	return nil, 0, f.env.refuse("open", f.Path(nil), "the archive is being written by another open", errdefs.ErrBusy)
}

// Setattr hands a truncation to the open handle; one without a handle is
// the O_TRUNC of an open, which FUSE sends without it: the file is new and
// empty anyway.
func (f *importFile) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	attrs(&out.Attr, f.ino, modeWritable, 0, f.time)
	errno, _ := handleSetattr(ctx, fh, in, out)
	return errno
}
