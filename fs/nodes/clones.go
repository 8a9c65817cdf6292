package nodes

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// clonesDir is clones/ (SPEC 2.4). mkdir clones/NAME reserves NAME for the
// box a copy into it makes (`cp -r boxes/X clones/NAME` makes the
// directory itself). While the copy is in progress clones/NAME is a
// receiveDir; once it is over, it is the box's own directory, the same box
// as boxes/NAME. clones/ lists the names being filled and the boxes made
// as clones; rmdir removes a clone, rename renames it.
type clonesDir struct {
	fixedDir
	settle time.Duration

	mu     sync.Mutex
	copies map[string]*cloneCopy // copies in progress, by name
	seq    uint64                // numbers the copies, for their inodes
}

var (
	_ node             = (*clonesDir)(nil)
	_ fs.NodeLookuper  = (*clonesDir)(nil)
	_ fs.NodeReaddirer = (*clonesDir)(nil)
	_ fs.NodeMkdirer   = (*clonesDir)(nil)
	_ fs.NodeRmdirer   = (*clonesDir)(nil)
	_ fs.NodeRenamer   = (*clonesDir)(nil)
	_ fs.NodeCreater   = (*clonesDir)(nil)
	_ fs.NodeUnlinker  = (*clonesDir)(nil)
)

func newClonesDir(e *env, settle time.Duration) *clonesDir {
	return &clonesDir{fixedDir: newFixedDir(e), settle: settle, copies: map[string]*cloneCopy{}}
}

func (d *clonesDir) stable() fs.StableAttr { return dirStable(inoOf("clones")) }

// Getattr describes clones/.
func (d *clonesDir) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	return dirAttrs(out, inoOf("clones"), d.env.mounted)
}

func (d *clonesDir) boxNode(info snapshot.BoxInfo) *boxDir {
	return &boxDir{fixedDir: newFixedDir(d.env), id: info.ID, created: info.CreatedAt, tree: clonesTree}
}

// Lookup finds a copy in progress, else a box made as a clone.
func (d *clonesDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if c := d.copyNamed(ctx, name); c != nil {
		return child(ctx, d.EmbeddedInode(), newReceiveDir(d.env, c, ""), out)
	}
	ct := d.env.rt.CloneTarget(ctx, name)
	if ct == nil || ct.Box() == nil {
		return nil, syscall.ENOENT
	}
	info, err := ct.Box().Info(ctx)
	if err != nil {
		return nil, d.env.quiet("lookup", pathOf(d.EmbeddedInode(), name), err)
	}
	return child(ctx, d.EmbeddedInode(), d.boxNode(info), out)
}

// Readdir lists the copies in progress and the boxes made as clones.
func (d *clonesDir) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	names, ids, err := d.clones(ctx)
	if err != nil {
		return nil, d.env.done("readdir", "clones", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	entries := make([]fuse.DirEntry, 0, len(names))
	for _, name := range names {
		ino := inoOf("clones/" + name) // a reservation this mount does not hold
		if c := d.copies[name]; c != nil {
			ino = c.ino("")
		} else if id := ids[name]; id != "" {
			ino = clonesTree.dirIno(boxKey(id))
		}
		entries = append(entries, dirEntry(name, syscall.S_IFDIR, ino))
	}
	return listing(entries), 0
}

// clones names what clones/ lists, and the ids of those that are boxes.
func (d *clonesDir) clones(ctx context.Context) ([]string, map[string]string, error) {
	names, err := d.env.rt.CloneNames(ctx)
	if err != nil {
		return nil, nil, err
	}
	boxes, err := d.env.rt.ListBoxes(ctx)
	if err != nil {
		return nil, nil, err
	}
	ids := make(map[string]string, len(boxes))
	for _, b := range boxes {
		ids[b.Name] = b.ID
	}
	return names, ids, nil
}

// Mkdir reserves a name for the box a copy into it will make.
func (d *clonesDir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	ct, err := d.env.rt.ReserveClone(ctx, name)
	if errno := d.env.done("mkdir", pathOf(d.EmbeddedInode(), name), err); errno != 0 {
		return nil, errno
	}
	d.mu.Lock()
	d.seq++
	c := newCloneCopy(d.env.life, ct, d.seq, d.settle, d.settled)
	d.copies[name] = c
	d.mu.Unlock()
	return child(ctx, d.EmbeddedInode(), newReceiveDir(d.env, c, ""), out)
}

// Rmdir removes a clone with everything in it, or drops a reservation.
func (d *clonesDir) Rmdir(ctx context.Context, name string) syscall.Errno {
	path := pathOf(d.EmbeddedInode(), name)
	if c := d.copyNamed(ctx, name); c != nil {
		err := c.target().Remove(ctx)
		if err == nil {
			c.removed()
			d.forget(name, c)
		}
		return d.env.done("rmdir", path, err)
	}
	ct := d.env.rt.CloneTarget(ctx, name)
	if ct == nil {
		return d.env.done("rmdir", path, fmt.Errorf("no clone %q: %w", name, errdefs.ErrNotFound))
	}
	return d.env.done("rmdir", path, ct.Remove(ctx))
}

// Rename renames a clone (its box) within clones/.
func (d *clonesDir) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	path := pathOf(d.EmbeddedInode(), name)
	switch {
	case newParent.EmbeddedInode() != d.EmbeddedInode():
		return d.env.refuse("rename", path, "a clone can only be renamed inside clones/", errdefs.ErrInvalid)
	case flags&fs.RENAME_EXCHANGE != 0:
		return d.env.refuse("rename", path, "clones cannot be exchanged", errdefs.ErrInvalid)
	}
	var err error
	if c := d.copyNamed(ctx, name); c != nil {
		err = d.renameCopy(ctx, c, name, newName)
	} else if d.env.rt.CloneTarget(ctx, name) == nil {
		err = fmt.Errorf("no clone %q: %w", name, errdefs.ErrNotFound)
	} else {
		err = d.env.rt.RenameBox(ctx, name, newName)
	}
	return d.env.done("rename", path+" -> "+newName, err)
}

// renameCopy renames a copy in progress. One that made its box renames
// the box and is over; a bare reservation moves to the new name; one that
// began without making its box yet cannot move.
func (d *clonesDir) renameCopy(ctx context.Context, c *cloneCopy, name, newName string) error {
	ct := c.target()
	if ct.Box() != nil {
		if err := d.env.rt.RenameBox(ctx, name, newName); err != nil {
			return err
		}
		c.finish()
		d.forget(name, c)
		// The kernel moves the copy's directory to the new name: have it
		// look the box up there instead, once this request is answered.
		go d.NotifyEntry(newName)
		return nil
	}
	if len(ct.Entries("")) > 0 {
		return fmt.Errorf("the copy into clones/%s has begun and made no box yet: %w", name, errdefs.ErrBusy)
	}
	moved, err := d.env.rt.ReserveClone(ctx, newName)
	if err != nil {
		return err
	}
	c.rebind(moved)
	d.mu.Lock()
	d.forgetLocked(name, c)
	d.copies[newName] = c
	d.mu.Unlock()
	return nil
}

// Create refuses: clones/ holds only directories.
func (d *clonesDir) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, d.env.refuse("create", pathOf(d.EmbeddedInode(), name),
		"clones/ holds directories: mkdir clones/NAME, or copy a box or snapshot directory to clones/NAME", errdefs.ErrInvalid)
}

// Unlink refuses: there are no files in clones/.
func (d *clonesDir) Unlink(ctx context.Context, name string) syscall.Errno {
	return d.env.refuse("unlink", pathOf(d.EmbeddedInode(), name), "remove a clone with rmdir", errdefs.ErrInvalid)
}

// copyNamed is the copy in progress into clones/name; nil when there is
// none, or when it ended (the engine drops a reservation whose copy turned
// out not to be of a box).
func (d *clonesDir) copyNamed(ctx context.Context, name string) *cloneCopy {
	d.mu.Lock()
	c := d.copies[name]
	d.mu.Unlock()
	if c == nil || c.name() != name { // none, or one being renamed
		return nil
	}
	if !d.holds(ctx, c, nil) {
		d.forget(name, c)
		c.finish()
		return nil
	}
	return c
}

// settled takes a copy that went idle out of clones/'s copies: the kernel
// looks clones/NAME up again and finds the box. err says why the copy made
// no box, when it failed as it settled.
func (d *clonesDir) settled(c *cloneCopy, err error) {
	name := c.name()
	if err != nil {
		d.env.done("copy into", "clones/"+name, err)
	}
	d.forget(name, c)
	d.NotifyEntry(name)
}

func (d *clonesDir) forget(name string, c *cloneCopy) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.forgetLocked(name, c)
}

func (d *clonesDir) forgetLocked(name string, c *cloneCopy) {
	if d.copies[name] == c {
		delete(d.copies, name)
	}
}

// closeAll ends every copy in progress (unmount): their reservations go.
func (d *clonesDir) closeAll() {
	d.mu.Lock()
	copies := d.copies
	d.copies = map[string]*cloneCopy{}
	d.mu.Unlock()
	for _, c := range copies {
		c.finish()
	}
}

// sync follows changes made elsewhere: a copy whose box was renamed or
// removed (through boxes/, or by another process) is over, one the engine
// dropped is gone, and cached entries of clones/ that no longer name what
// they showed (ids: box ids by name) are dropped. It runs outside any
// request.
func (d *clonesDir) sync(ctx context.Context, ids map[string]string) {
	d.mu.Lock()
	copies := maps.Clone(d.copies)
	d.mu.Unlock()
	for name, c := range copies {
		if c.name() == name && !d.holds(ctx, c, ids) { // a copy being renamed is left to its rename
			d.forget(name, c)
			c.finish()
		}
	}
	d.mu.Lock()
	copies = maps.Clone(d.copies)
	d.mu.Unlock()
	dir := d.EmbeddedInode()
	for name, ch := range dir.Children() {
		switch n := ch.Operations().(type) {
		case *receiveDir:
			if copies[name] != n.copy {
				dir.NotifyEntry(name)
			}
		case *boxDir:
			if ids[name] != n.id {
				dir.NotifyEntry(name)
			}
		}
	}
}

// holds says whether c is still a copy in progress: not over, still the
// engine's target for its name, and, when ids (box ids by name, listed a
// moment ago) are given, its box, if made, still called so (not renamed or
// removed through boxes/ or by another process).
func (d *clonesDir) holds(ctx context.Context, c *cloneCopy, ids map[string]string) bool {
	ct := c.target()
	if c.isOver() || d.env.rt.CloneTarget(ctx, ct.Name()) != ct {
		return false
	}
	box := ct.Box()
	if ids == nil || box == nil || ids[ct.Name()] == box.ID() {
		return true
	}
	// The listing may predate the box: ask about it.
	info, err := box.Info(ctx)
	return err == nil && info.Name == ct.Name()
}
