package nodes

import (
	"context"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// dirAttrs describes a directory.
func dirAttrs(out *fuse.AttrOut, ino uint64, t time.Time) syscall.Errno {
	attrs(&out.Attr, ino, modeDir, 0, t)
	return 0
}

// dirStable is the stable identity of a directory.
func dirStable(ino uint64) fs.StableAttr { return fs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino} }

// dirBase is embedded by every directory of the mount: its inode and the
// mount's env, and refusals of links and special files (ln, mkfifo), which
// no directory takes and which go-fuse would refuse without a log line.
type dirBase struct {
	fs.Inode
	env *env
}

var (
	_ fs.NodeSymlinker = (*dirBase)(nil)
	_ fs.NodeLinker    = (*dirBase)(nil)
	_ fs.NodeMknoder   = (*dirBase)(nil)
)

// Symlink refuses (see env.noLinks).
func (d *dirBase) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, d.env.noLinks("symlink", pathOf(d.EmbeddedInode(), name))
}

// Link refuses (see env.noLinks).
func (d *dirBase) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, d.env.noLinks("link", pathOf(d.EmbeddedInode(), name))
}

// Mknod refuses (see env.noLinks).
func (d *dirBase) Mknod(ctx context.Context, name string, mode, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, d.env.noLinks("mknod", pathOf(d.EmbeddedInode(), name))
}
