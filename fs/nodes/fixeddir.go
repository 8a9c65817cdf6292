package nodes

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// fixedDir is embedded by the directories of the mount's own tree (all
// but those of a copy into clones/). By default nothing in them can be
// created, removed or renamed by hand, as in the root, a box, a snapshot
// and settings/, whose entries boxlitefs generates; boxes/, clones/,
// snapshots/ and import/ override what they take. go-fuse would otherwise
// answer unlink and rmdir with success and setattr with an ENOTSUP that
// nothing logs, so each is refused here, with a log line.
type fixedDir struct {
	dirBase
}

var (
	_ fs.NodeUnlinker  = (*fixedDir)(nil)
	_ fs.NodeRmdirer   = (*fixedDir)(nil)
	_ fs.NodeMkdirer   = (*fixedDir)(nil)
	_ fs.NodeCreater   = (*fixedDir)(nil)
	_ fs.NodeRenamer   = (*fixedDir)(nil)
	_ fs.NodeSetattrer = (*fixedDir)(nil)
)

func newFixedDir(e *env) fixedDir { return fixedDir{dirBase{env: e}} }

// Unlink refuses to remove a generated file.
func (d *fixedDir) Unlink(ctx context.Context, name string) syscall.Errno {
	return d.env.fixed("unlink", pathOf(d.EmbeddedInode(), name))
}

// Rmdir refuses to remove a generated directory.
func (d *fixedDir) Rmdir(ctx context.Context, name string) syscall.Errno {
	return d.env.fixed("rmdir", pathOf(d.EmbeddedInode(), name))
}

// Mkdir refuses: only boxes/ and snapshots/ take new directories.
func (d *fixedDir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, d.env.fixed("mkdir", pathOf(d.EmbeddedInode(), name))
}

// Create refuses: only import/ takes new files.
func (d *fixedDir) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, d.env.fixed("create", pathOf(d.EmbeddedInode(), name))
}

// Rename refuses to move a generated entry.
func (d *fixedDir) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return d.env.fixed("rename", pathOf(d.EmbeddedInode(), name))
}

// Setattr refuses to change a directory's mode, owner or times (chmod,
// touch): they are generated.
func (d *fixedDir) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return d.env.refuse("setattr", pathOf(d.EmbeddedInode(), ""), "the attributes of boxlitefs's directories are fixed", errdefs.ErrUnsupported)
}
