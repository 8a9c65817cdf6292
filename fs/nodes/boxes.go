package nodes

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// boxesDir is boxes/: one directory per box. mkdir makes an empty box,
// rmdir removes one (with its snapshots), rename renames one.
type boxesDir struct {
	fixedDir
}

var (
	_ node            = (*boxesDir)(nil)
	_ fs.NodeLookuper = (*boxesDir)(nil)
	_ fs.NodeMkdirer  = (*boxesDir)(nil)
	_ fs.NodeRmdirer  = (*boxesDir)(nil)
	_ fs.NodeRenamer  = (*boxesDir)(nil)
	_ fs.NodeCreater  = (*boxesDir)(nil)
	_ fs.NodeUnlinker = (*boxesDir)(nil)
)

func (d *boxesDir) stable() fs.StableAttr { return dirStable(inoOf("boxes")) }

// Getattr describes boxes/.
func (d *boxesDir) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	return dirAttrs(out, inoOf("boxes"), d.env.mounted)
}

func (d *boxesDir) boxNode(info snapshot.BoxInfo) *boxDir {
	return &boxDir{fixedDir: newFixedDir(d.env), id: info.ID, created: info.CreatedAt}
}

// Lookup finds a box by name. A missing name is a plain ENOENT, not logged:
// shells and file managers look up names that do not exist all the time.
func (d *boxesDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	info, err := d.env.facts.boxNamed(ctx, name)
	if err != nil {
		return nil, d.env.quiet("lookup", pathOf(d.EmbeddedInode(), name), err)
	}
	return child(ctx, d.EmbeddedInode(), d.boxNode(info), out)
}

// Mkdir makes a new empty box.
func (d *boxesDir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	path := pathOf(d.EmbeddedInode(), name)
	info, err := d.env.rt.CreateBox(ctx, name, snapshot.CreateOptions{})
	if errno := d.env.done("mkdir", path, err); errno != 0 {
		return nil, errno
	}
	return child(ctx, d.EmbeddedInode(), d.boxNode(info), out)
}

// Rmdir removes a stopped box with everything in it.
func (d *boxesDir) Rmdir(ctx context.Context, name string) syscall.Errno {
	return d.env.done("rmdir", pathOf(d.EmbeddedInode(), name), d.env.rt.RemoveBox(ctx, name))
}

// Rename renames a box; a box cannot leave boxes/.
func (d *boxesDir) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	path := pathOf(d.EmbeddedInode(), name)
	if newParent.EmbeddedInode() != d.EmbeddedInode() {
		return d.env.refuse("rename", path, "a box can only be renamed inside boxes/", errdefs.ErrInvalid)
	}
	if flags&fs.RENAME_EXCHANGE != 0 {
		return d.env.refuse("rename", path, "boxes cannot be exchanged", errdefs.ErrInvalid)
	}
	err := d.env.rt.RenameBox(ctx, name, newName)
	return d.env.done("rename", path+" -> "+newName, err)
}

// Create refuses: boxes/ holds only box directories.
func (d *boxesDir) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, d.env.refuse("create", pathOf(d.EmbeddedInode(), name),
		"boxes/ holds only box directories: make a box with mkdir", errdefs.ErrInvalid)
}

// Unlink refuses: there are no files in boxes/.
func (d *boxesDir) Unlink(ctx context.Context, name string) syscall.Errno {
	return d.env.refuse("unlink", pathOf(d.EmbeddedInode(), name), "remove a box with rmdir", errdefs.ErrInvalid)
}
