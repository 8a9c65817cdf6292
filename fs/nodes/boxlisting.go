package nodes

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// boxListing is an open boxes/ directory: one ListBoxes at opendir, from
// which readdir and the lookups of readdirplus (ls -l) are answered without
// asking the database again for each box.
type boxListing struct {
	dir   *boxesDir
	boxes []snapshot.BoxInfo
	next  int
}

var (
	_ fs.NodeOpendirHandler = (*boxesDir)(nil)
	_ fs.FileReaddirenter   = (*boxListing)(nil)
	_ fs.FileSeekdirer      = (*boxListing)(nil)
	_ fs.FileLookuper       = (*boxListing)(nil)
)

// OpendirHandle lists the boxes once for the whole listing.
func (d *boxesDir) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	boxes, err := d.env.rt.ListBoxes(ctx)
	if err != nil {
		return nil, 0, d.env.done("opendir", "boxes", err)
	}
	return &boxListing{dir: d, boxes: boxes}, 0, 0
}

// Readdirent gives the next box.
func (l *boxListing) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if l.next >= len(l.boxes) {
		return nil, 0
	}
	b := l.boxes[l.next]
	l.next++
	return &fuse.DirEntry{Name: b.Name, Mode: syscall.S_IFDIR, Ino: boxesTree.dirIno(boxKey(b.ID)), Off: uint64(l.next)}, 0
}

// Seekdir goes back to an entry already given (offsets are positions).
func (l *boxListing) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if off > uint64(len(l.boxes)) {
		return syscall.EINVAL
	}
	l.next = int(off)
	return 0
}

// Lookup answers readdirplus for the entry just listed, from the listing.
func (l *boxListing) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	for i := l.next - 1; i >= 0 && i >= l.next-2; i-- {
		if b := l.boxes[i]; b.Name == name {
			n := l.dir.boxNode(b)
			attrs(&out.Attr, n.ino(), modeDir, 0, b.CreatedAt)
			return l.dir.NewInode(ctx, n, n.stable()), 0
		}
	}
	return l.dir.Lookup(ctx, name, out)
}
