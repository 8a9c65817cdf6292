package nodes

import (
	"context"
	"path"
	"sort"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/fs/ops"
)

// receiveDir is a directory of a copy into clones/ in progress:
// clones/NAME/ itself (rel "") and the directories the copy made in it
// (settings/, snapshots/, snapshots/SNAP/). It shows what the copy made so
// far and nothing else (see cloneCopy); the engine decides what each new
// name means and refuses names that are not part of a box.
type receiveDir struct {
	dirBase
	copy *cloneCopy
	rel  string
}

var (
	_ node             = (*receiveDir)(nil)
	_ fs.NodeLookuper  = (*receiveDir)(nil)
	_ fs.NodeReaddirer = (*receiveDir)(nil)
	_ fs.NodeMkdirer   = (*receiveDir)(nil)
	_ fs.NodeCreater   = (*receiveDir)(nil)
	_ fs.NodeRenamer   = (*receiveDir)(nil)
	_ fs.NodeUnlinker  = (*receiveDir)(nil)
	_ fs.NodeRmdirer   = (*receiveDir)(nil)
	_ fs.NodeSetattrer = (*receiveDir)(nil)
)

func newReceiveDir(e *env, c *cloneCopy, rel string) *receiveDir {
	return &receiveDir{dirBase: dirBase{env: e}, copy: c, rel: rel}
}

func (d *receiveDir) stable() fs.StableAttr { return dirStable(d.copy.ino(d.rel)) }

// Getattr describes the directory.
func (d *receiveDir) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	attrs(&out.Attr, d.copy.ino(d.rel), modeDir, 0, d.copy.created)
	return 0
}

// Setattr accepts the modes and times that cp -p, rsync and shutil set on
// the directories they make, and keeps none of them.
func (d *receiveDir) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return d.Getattr(ctx, fh, out)
}

// child is the path of name in this directory, relative to the copy.
func (d *receiveDir) child(name string) string { return path.Join(d.rel, name) }

// Lookup finds what the copy made. Lookups and listings do not keep the
// copy from settling: a file manager showing the directory would keep it
// open forever, and the copy's own steps are creations and writes.
func (d *receiveDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	rel := d.child(name)
	size, ok := d.copy.target().Stat(rel)
	switch {
	case !ok:
		return nil, syscall.ENOENT
	case size < 0:
		return child(ctx, d.EmbeddedInode(), newReceiveDir(d.env, d.copy, rel), out)
	}
	return child(ctx, d.EmbeddedInode(), &receiveFile{env: d.env, copy: d.copy, rel: rel}, out)
}

// Readdir lists what the copy made here.
func (d *receiveDir) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	made := d.copy.target().Entries(d.rel)
	names := make([]string, 0, len(made))
	for name := range made {
		names = append(names, name)
	}
	sort.Strings(names)
	entries := make([]fuse.DirEntry, 0, len(names))
	for _, name := range names {
		mode := uint32(syscall.S_IFREG)
		if made[name] < 0 {
			mode = syscall.S_IFDIR
		}
		entries = append(entries, dirEntry(name, mode, d.copy.ino(d.child(name))))
	}
	return listing(entries), 0
}

// Mkdir records a directory of the copy (settings/, snapshots/, snapshots/SNAP/).
func (d *receiveDir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	path := pathOf(d.EmbeddedInode(), name)
	if err := d.copy.begin(); err != nil {
		return nil, d.env.done("mkdir", path, err)
	}
	defer d.copy.end()
	rel := d.child(name)
	if err := d.copy.target().Mkdir(ctx, rel); err != nil {
		return nil, refused(ctx, d.env, d.copy, "mkdir", path, err)
	}
	return child(ctx, d.EmbeddedInode(), newReceiveDir(d.env, d.copy, rel), out)
}

// Create starts receiving a file of the copy; a name that is not part of a
// box is EINVAL here, at open(2).
func (d *receiveDir) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	f := &receiveFile{env: d.env, copy: d.copy, rel: d.child(name)}
	h, errno := f.receive(ctx, "create", pathOf(d.EmbeddedInode(), name))
	if errno != 0 {
		return nil, nil, 0, errno
	}
	attrs(&out.Attr, d.copy.ino(f.rel), modeWritable, 0, d.copy.created)
	return d.NewInode(ctx, f, f.stable()), h, ops.OpenFlags, 0
}

// Rename moves a file within the copy: rsync writes ".NAME.XXXXXX" and
// renames it to NAME.
func (d *receiveDir) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	path := pathOf(d.EmbeddedInode(), name)
	to, ok := newParent.(*receiveDir)
	switch {
	case !ok || to.copy != d.copy:
		return d.env.refuse("rename", path, "a file of a copy into clones/ can only be renamed within that copy", errdefs.ErrInvalid)
	case flags&fs.RENAME_EXCHANGE != 0:
		return d.env.refuse("rename", path, "files of a copy cannot be exchanged", errdefs.ErrInvalid)
	}
	if err := d.copy.begin(); err != nil {
		return d.env.done("rename", path, err)
	}
	defer d.copy.end()
	ct := d.copy.target()
	if size, ok := ct.Stat(d.child(name)); ok && size < 0 {
		return d.env.refuse("rename", path, "directories of a copy cannot be renamed", errdefs.ErrInvalid)
	}
	if err := ct.Rename(ctx, d.child(name), to.child(newName)); err != nil {
		return refused(ctx, d.env, d.copy, "rename", path+" -> "+to.child(newName), err)
	}
	return 0
}

// Unlink forgets a file the copy made.
func (d *receiveDir) Unlink(ctx context.Context, name string) syscall.Errno {
	path := pathOf(d.EmbeddedInode(), name)
	if err := d.copy.begin(); err != nil {
		return d.env.done("unlink", path, err)
	}
	defer d.copy.end()
	if err := d.copy.target().Unlink(ctx, d.child(name)); err != nil {
		return d.env.done("unlink", path, err)
	}
	return 0
}

// Rmdir refuses: the engine keeps a copy's directories until the copy
// ends, and rmdir clones/NAME removes the whole clone.
func (d *receiveDir) Rmdir(ctx context.Context, name string) syscall.Errno {
	return d.env.refuse("rmdir", pathOf(d.EmbeddedInode(), name),
		"a directory of a copy into clones/ cannot be removed: rmdir clones/NAME removes the whole clone", errdefs.ErrInvalid)
}

// refused logs the engine's refusal of a step of the copy. The engine drops
// a reservation whose copy turns out not to be of a box: the copy ends
// then, so that the rest of it is refused for the same reason.
func refused(ctx context.Context, e *env, c *cloneCopy, op, path string, err error) syscall.Errno {
	if e.rt.CloneTarget(ctx, c.name()) != c.target() {
		c.finish()
	}
	return e.done(op, path, err)
}
