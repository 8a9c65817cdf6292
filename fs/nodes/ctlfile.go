package nodes

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/boxlite-ai/boxlitefs/fs/ops"
)

// ctlFile is a control file (`state`, `restore`, a setting): reading gives
// its current value, and each write(2) of a value is applied at once, so
// that a refusal is the write's errno and bash prints it.
type ctlFile struct {
	genFile
	apply ops.Apply
}

var (
	_ node             = (*ctlFile)(nil)
	_ fs.NodeOpener    = (*ctlFile)(nil)
	_ fs.NodeSetattrer = (*ctlFile)(nil)
)

// Getattr reports the current value's size.
func (n *ctlFile) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	return n.fill(ctx, modeWritable, out)
}

// Open gives a handle that serves the value as of now and applies writes.
func (n *ctlFile) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	data, err := n.content(ctx)
	if err != nil {
		return nil, 0, n.env.done("open", n.Path(nil), err)
	}
	return ops.NewControlHandle(data, n.apply, n.env.log, n.Path(nil)), ops.QuietCloseFlags, 0
}

// Setattr accepts the truncation that precedes a shell redirection's
// write, with or without an open handle; other attributes are ignored.
func (n *ctlFile) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if errno := n.Getattr(ctx, nil, out); errno != 0 {
		return errno
	}
	errno, _ := handleSetattr(ctx, fh, in, out)
	return errno
}
