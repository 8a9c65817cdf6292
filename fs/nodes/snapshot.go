package nodes

import (
	"context"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// snapshotDir is boxes/NAME/snapshots/SNAP/: the snapshot's description,
// its two frozen disks (read-only), and export.boxsnap (not listed). It
// holds the snapshot's id, which survives renames.
type snapshotDir struct {
	fixedDir
	ref     stateRef
	created time.Time
	tree    tree
}

var (
	_ node             = (*snapshotDir)(nil)
	_ fs.NodeLookuper  = (*snapshotDir)(nil)
	_ fs.NodeReaddirer = (*snapshotDir)(nil)
)

func (d *snapshotDir) ino() uint64           { return d.tree.dirIno(d.ref.key()) }
func (d *snapshotDir) stable() fs.StableAttr { return dirStable(d.ino()) }

// Getattr describes the directory; a removed snapshot is ENOENT.
func (d *snapshotDir) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if _, _, err := d.ref.resolve(ctx, d.env); err != nil {
		return d.env.quiet("stat", d.Path(nil), err)
	}
	return dirAttrs(out, d.ino(), d.created)
}

// Readdir lists snapshot.json and the disks, without export.boxsnap.
func (d *snapshotDir) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	entries := []fuse.DirEntry{
		{Name: "snapshot.json", Mode: syscall.S_IFREG},
		{Name: snapshot.GuestDisk.FileName(), Mode: syscall.S_IFREG},
		{Name: snapshot.ContainerDisk.FileName(), Mode: syscall.S_IFREG},
	}
	return listing(withInos(entries, d.ref.key())), 0
}

// Lookup makes the node of one entry.
func (d *snapshotDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n := d.entry(name)
	if n == nil {
		return nil, syscall.ENOENT
	}
	return fixedChild(ctx, d.EmbeddedInode(), n, out)
}

// entry is the node of name in the directory, nil if there is none.
func (d *snapshotDir) entry(name string) node {
	if disk, ok := snapshot.DiskFromFileName(name); ok {
		return &diskFile{env: d.env, ref: d.ref, disk: disk, time: d.created}
	}
	switch name {
	case "snapshot.json":
		return &genFile{env: d.env, ino: inoOf(d.ref.key() + "/" + name), time: d.created, content: d.snapshotJSON}
	case exportName:
		return &exportFile{env: d.env, ref: d.ref, time: d.created}
	}
	return nil
}

func (d *snapshotDir) snapshotJSON(ctx context.Context) ([]byte, error) {
	info, err := d.env.snapshotByID(ctx, d.ref.boxID, d.ref.snapID)
	if err != nil {
		return nil, err
	}
	return jsonFile(info)
}
