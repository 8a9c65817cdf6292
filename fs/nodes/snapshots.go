package nodes

import (
	"context"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// snapshotsDir is boxes/NAME/snapshots/: mkdir takes a snapshot with the
// box's snapshot settings, rmdir removes one, rename renames one.
type snapshotsDir struct {
	fixedDir
	boxID string
	time  time.Time
	tree  tree
}

var (
	_ node             = (*snapshotsDir)(nil)
	_ fs.NodeLookuper  = (*snapshotsDir)(nil)
	_ fs.NodeReaddirer = (*snapshotsDir)(nil)
	_ fs.NodeMkdirer   = (*snapshotsDir)(nil)
	_ fs.NodeRmdirer   = (*snapshotsDir)(nil)
	_ fs.NodeRenamer   = (*snapshotsDir)(nil)
	_ fs.NodeCreater   = (*snapshotsDir)(nil)
	_ fs.NodeUnlinker  = (*snapshotsDir)(nil)
)

func (d *snapshotsDir) key() string           { return boxKey(d.boxID) + "/snapshots" }
func (d *snapshotsDir) stable() fs.StableAttr { return dirStable(d.tree.dirIno(d.key())) }

// Getattr describes the directory.
func (d *snapshotsDir) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	return dirAttrs(out, d.tree.dirIno(d.key()), d.time)
}

func (d *snapshotsDir) snapshots(ctx context.Context) (*snapshot.Snapshots, error) {
	box, err := d.env.box(ctx, d.boxID)
	if err != nil {
		return nil, err
	}
	return box.Snapshots(), nil
}

func (d *snapshotsDir) snapNode(info snapshot.SnapshotInfo) *snapshotDir {
	return &snapshotDir{fixedDir: newFixedDir(d.env), ref: stateRef{boxID: d.boxID, snapID: info.ID}, created: info.CreatedAt, tree: d.tree}
}

// Lookup finds a snapshot by name.
func (d *snapshotsDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	info, err := d.env.snapshotNamed(ctx, d.boxID, name)
	if err != nil {
		return nil, d.env.quiet("lookup", pathOf(d.EmbeddedInode(), name), err)
	}
	return child(ctx, d.EmbeddedInode(), d.snapNode(info), out)
}

// Readdir lists the snapshots, oldest first.
func (d *snapshotsDir) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	list, err := d.env.facts.snapshots(ctx, d.boxID)
	if err != nil {
		return nil, d.env.done("readdir", d.Path(nil), err)
	}
	entries := make([]fuse.DirEntry, 0, len(list))
	for _, s := range list {
		entries = append(entries, dirEntry(s.Name, syscall.S_IFDIR, d.tree.dirIno(snapshotKey(s.ID))))
	}
	return listing(entries), 0
}

// Mkdir takes a snapshot with the box's snapshot settings.
func (d *snapshotsDir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	path := pathOf(d.EmbeddedInode(), name)
	info, err := d.create(ctx, name)
	if errno := d.env.done("mkdir", path, err); errno != 0 {
		return nil, errno
	}
	return child(ctx, d.EmbeddedInode(), d.snapNode(info), out)
}

func (d *snapshotsDir) create(ctx context.Context, name string) (snapshot.SnapshotInfo, error) {
	box, err := d.env.box(ctx, d.boxID)
	if err != nil {
		return snapshot.SnapshotInfo{}, err
	}
	settings, err := d.env.facts.settings(ctx, d.boxID)
	if err != nil {
		return snapshot.SnapshotInfo{}, err
	}
	return box.Snapshots().Create(ctx, name, settings.Snapshot)
}

// Rmdir removes a snapshot, even if later snapshots or clones use it.
func (d *snapshotsDir) Rmdir(ctx context.Context, name string) syscall.Errno {
	path := pathOf(d.EmbeddedInode(), name)
	snaps, err := d.snapshots(ctx)
	if err == nil {
		err = snaps.Remove(ctx, name)
	}
	return d.env.done("rmdir", path, err)
}

// Rename renames a snapshot within its box; moving it to another box is
// EINVAL.
func (d *snapshotsDir) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	path := pathOf(d.EmbeddedInode(), name)
	if to, ok := newParent.(*snapshotsDir); !ok || to.boxID != d.boxID {
		return d.env.refuse("rename", path, "a snapshot can only be renamed inside its box's snapshots/", errdefs.ErrInvalid)
	}
	if flags&fs.RENAME_EXCHANGE != 0 {
		return d.env.refuse("rename", path, "snapshots cannot be exchanged", errdefs.ErrInvalid)
	}
	snaps, err := d.snapshots(ctx)
	if err == nil {
		err = snaps.Rename(ctx, name, newName)
	}
	return d.env.done("rename", path+" -> "+newName, err)
}

// Create refuses: snapshots/ holds only snapshot directories.
func (d *snapshotsDir) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, d.env.refuse("create", pathOf(d.EmbeddedInode(), name),
		"snapshots/ holds only snapshot directories: take a snapshot with mkdir", errdefs.ErrInvalid)
}

// Unlink refuses: there are no files in snapshots/.
func (d *snapshotsDir) Unlink(ctx context.Context, name string) syscall.Errno {
	return d.env.refuse("unlink", pathOf(d.EmbeddedInode(), name), "remove a snapshot with rmdir", errdefs.ErrInvalid)
}
