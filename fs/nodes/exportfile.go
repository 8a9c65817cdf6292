package nodes

import (
	"context"
	"io"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/boxlite-ai/boxlitefs/fs/ops"
)

// exportFile is export.boxsnap of a box or snapshot (SPEC 2.3): found by
// name, never listed, size 0, and each open streams a new archive made with
// the box's export settings.
type exportFile struct {
	fs.Inode
	env  *env
	ref  stateRef
	time time.Time
}

const exportName = "export.boxsnap"

var (
	_ node             = (*exportFile)(nil)
	_ fs.NodeOpener    = (*exportFile)(nil)
	_ fs.NodeSetattrer = (*exportFile)(nil)
)

func (n *exportFile) ino() uint64 { return inoOf(n.ref.key() + "/" + exportName) }

func (n *exportFile) stable() fs.StableAttr {
	return fs.StableAttr{Mode: syscall.S_IFREG, Ino: n.ino()}
}

// Getattr reports size 0: the archive does not exist until it is read.
func (n *exportFile) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	attrs(&out.Attr, n.ino(), modeReadOnly, 0, n.time)
	return 0
}

// Open checks that the box (and snapshot) exist and reads its export
// settings; the archive is made as it is read.
func (n *exportFile) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	path := n.Path(nil)
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		return nil, 0, n.env.readOnly("open for writing", path)
	}
	box, snap, err := n.ref.resolve(ctx, n.env)
	if err != nil {
		return nil, 0, n.env.done("open", path, err)
	}
	settings, err := n.env.facts.settings(ctx, box.ID())
	if err != nil {
		return nil, 0, n.env.done("open", path, err)
	}
	export := func(ctx context.Context, w io.Writer) error {
		if snap == "" {
			return box.Export(ctx, w, settings.Export)
		}
		return box.Snapshots().Export(ctx, snap, w, settings.Export)
	}
	return ops.NewExportHandle(export, n.env.log, path), ops.QuietCloseFlags, 0
}

// Setattr refuses, as for every generated file.
func (n *exportFile) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return n.env.readOnly("setattr", n.Path(nil))
}
