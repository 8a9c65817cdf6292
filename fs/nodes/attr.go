package nodes

import (
	"context"
	"path"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Modes of the mount's paths. Control files are readable (restore reads as
// empty) so that file managers and `cat` work on them.
const (
	modeDir      = syscall.S_IFDIR | 0o755
	modeReadOnly = syscall.S_IFREG | 0o444
	modeWritable = syscall.S_IFREG | 0o644
)

// attrs fills the attributes every node reports the same way.
func attrs(out *fuse.Attr, ino uint64, mode uint32, size int64, t time.Time) {
	out.Ino = ino
	out.Mode = mode
	out.Nlink = 1
	if mode&syscall.S_IFDIR != 0 {
		out.Nlink = 2
	}
	// cat and cp size their buffers by st_blksize: one request's worth
	// halves the round trips of the default 128 KiB.
	out.Blksize = maxIO
	setSize(out, uint64(size))
	out.SetTimes(&t, &t, &t)
}

// node is what every node of the tree provides, so that directories can
// make children in one way.
type node interface {
	fs.InodeEmbedder
	fs.NodeGetattrer
	stable() fs.StableAttr
}

// child makes the inode for n under parent and fills out from its
// attributes; the bridge reuses an inode the kernel already knows when the
// inode numbers match.
func child(ctx context.Context, parent *fs.Inode, n node, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	var a fuse.AttrOut
	if errno := n.Getattr(ctx, nil, &a); errno != 0 {
		return nil, errno
	}
	out.Attr = a.Attr
	return parent.NewInode(ctx, n, n.stable()), 0
}

// fixedChild is child for an entry whose name always leads to the same
// node while its directory is the same (box.json of a box, a setting, a
// snapshot's disk): the kernel keeps the name for as long as it keeps the
// directory, which events drop when it changes.
func fixedChild(ctx context.Context, parent *fs.Inode, n node, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	ch, errno := child(ctx, parent, n, out)
	if errno == 0 {
		out.SetEntryTimeout(fixedTimeout)
	}
	return ch, errno
}

// pathOf names a path of the mount for log lines: the directory's path
// joined with name ("." for the root itself).
func pathOf(dir *fs.Inode, name string) string {
	if p := path.Join(dir.Path(nil), name); p != "" {
		return p
	}
	return "."
}

// setSize sets a size and the block count that goes with it: cp takes a
// file with fewer blocks than its size for a sparse one, and copies it with
// read and write instead of copy_file_range.
func setSize(out *fuse.Attr, size uint64) {
	out.Size = size
	out.Blocks = (size + 511) / 512
}

// handleAttr lets an open file's handle answer getattr (a disk view's size
// as of its open); ok is false when fh has nothing to say.
func handleAttr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) (syscall.Errno, bool) {
	g, ok := fh.(fs.FileGetattrer)
	if !ok {
		return 0, false
	}
	errno := g.Getattr(ctx, out)
	setSize(&out.Attr, out.Size)
	return errno, true
}

// handleSetattr lets an open file's handle take a setattr (the
// truncation of a shell redirection, cp's final ftruncate); ok is false
// when there is no such handle.
func handleSetattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) (syscall.Errno, bool) {
	s, ok := fh.(fs.FileSetattrer)
	if !ok {
		return 0, false
	}
	errno := s.Setattr(ctx, in, out)
	setSize(&out.Attr, out.Size)
	return errno, true
}

// listing builds a directory stream.
func listing(entries []fuse.DirEntry) fs.DirStream { return fs.NewListDirStream(entries) }

// dirEntry describes a child for readdir.
func dirEntry(name string, mode uint32, ino uint64) fuse.DirEntry {
	return fuse.DirEntry{Name: name, Mode: mode, Ino: ino}
}

// withInos numbers fixed entries under the inode key prefix of their
// directory, the same numbers their lookups give.
func withInos(entries []fuse.DirEntry, prefix string) []fuse.DirEntry {
	for i := range entries {
		entries[i].Ino = inoOf(prefix + "/" + entries[i].Name)
	}
	return entries
}
