package nodes

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// clonesDir is clones/ (SPEC 2.4). The clone protocol (mkdir reserves a
// name, copy_file_range binds it to its source) needs engine support that
// is not there yet: for now it lists nothing and refuses mkdir with
// EOPNOTSUPP, so that `cp -r boxes/x clones/y` fails at once and leaves
// nothing behind.
type clonesDir struct {
	fixedDir
}

var _ node = (*clonesDir)(nil)

func (d *clonesDir) stable() fs.StableAttr { return dirStable(inoOf("clones")) }

// Getattr describes clones/.
func (d *clonesDir) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	return dirAttrs(ctx, out, inoOf("clones"), d.env.mounted, nil)
}

// Mkdir refuses until clones are supported.
func (d *clonesDir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, d.env.refuse("mkdir", pathOf(d.EmbeddedInode(), name),
		"clones through the mount are not available yet", errdefs.ErrUnsupported)
}
