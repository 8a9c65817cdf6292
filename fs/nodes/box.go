package nodes

import (
	"context"
	"encoding/json"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// boxDir is boxes/NAME/. It holds the box's id, which survives renames.
type boxDir struct {
	fixedDir
	id      string
	created time.Time
	tree    tree
}

var (
	_ node             = (*boxDir)(nil)
	_ fs.NodeLookuper  = (*boxDir)(nil)
	_ fs.NodeReaddirer = (*boxDir)(nil)
)

// boxEntries are the listed names of a box directory; export.boxsnap is
// found by Lookup but deliberately not listed (SPEC 2.3).
func boxEntries() []fuse.DirEntry {
	return []fuse.DirEntry{
		{Name: "box.json", Mode: syscall.S_IFREG},
		{Name: "state", Mode: syscall.S_IFREG},
		{Name: snapshot.GuestDisk.FileName(), Mode: syscall.S_IFREG},
		{Name: snapshot.ContainerDisk.FileName(), Mode: syscall.S_IFREG},
		{Name: "restore", Mode: syscall.S_IFREG},
		{Name: "settings", Mode: syscall.S_IFDIR},
		{Name: "snapshots", Mode: syscall.S_IFDIR},
	}
}

func (d *boxDir) key() string           { return boxKey(d.id) }
func (d *boxDir) ino() uint64           { return d.tree.dirIno(d.key()) }
func (d *boxDir) stable() fs.StableAttr { return dirStable(d.ino()) }

// Getattr describes the directory; a box that is gone is ENOENT.
func (d *boxDir) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if _, err := d.env.facts.info(ctx, d.id); err != nil {
		return d.env.quiet("stat", d.Path(nil), err)
	}
	return dirAttrs(out, d.ino(), d.created)
}

// Readdir lists the box's files, without export.boxsnap.
func (d *boxDir) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	return listing(withInos(boxEntries(), d.key())), 0
}

// Lookup makes the node for one of the box's entries.
func (d *boxDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n := d.entry(name)
	if n == nil {
		return nil, syscall.ENOENT
	}
	return fixedChild(ctx, d.EmbeddedInode(), n, out)
}

// entry is the node of name in the directory, nil if there is none.
func (d *boxDir) entry(name string) node {
	e, ino := d.env, inoOf(d.key()+"/"+name)
	ref := stateRef{boxID: d.id}
	if disk, ok := snapshot.DiskFromFileName(name); ok {
		return &diskFile{env: e, ref: ref, disk: disk, time: d.created}
	}
	switch name {
	case "box.json":
		return &genFile{env: e, ino: ino, time: d.created, content: d.boxJSON}
	case "state":
		return &ctlFile{genFile: genFile{env: e, ino: ino, time: d.created, content: d.stateText}, apply: d.setState}
	case "restore":
		return &ctlFile{genFile: genFile{env: e, ino: ino, time: d.created, content: empty}, apply: d.restore}
	case exportName:
		return &exportFile{env: e, ref: ref, time: d.created}
	case "settings":
		return &settingsDir{fixedDir: newFixedDir(e), boxID: d.id, time: d.created, tree: d.tree}
	case "snapshots":
		return &snapshotsDir{fixedDir: newFixedDir(e), boxID: d.id, time: d.created, tree: d.tree}
	}
	return nil
}

func (d *boxDir) boxJSON(ctx context.Context) ([]byte, error) {
	info, err := d.env.facts.info(ctx, d.id)
	if err != nil {
		return nil, err
	}
	return jsonFile(info)
}

func (d *boxDir) stateText(ctx context.Context) ([]byte, error) {
	info, err := d.env.facts.info(ctx, d.id)
	return []byte(string(info.Status) + "\n"), err
}

func (d *boxDir) setState(ctx context.Context, value string) error {
	box, err := d.env.box(ctx, d.id)
	if err != nil {
		return err
	}
	return box.SetState(ctx, snapshot.State(value))
}

func (d *boxDir) restore(ctx context.Context, value string) error {
	box, err := d.env.box(ctx, d.id)
	if err != nil {
		return err
	}
	return box.Snapshots().Restore(ctx, value)
}

// empty is the content of write-only control files.
func empty(context.Context) ([]byte, error) { return nil, nil }

// jsonFile formats v as an indented JSON document with a final newline.
func jsonFile(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
