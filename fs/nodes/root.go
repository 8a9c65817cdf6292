package nodes

import (
	"context"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// root is the mount's top directory: README, log, boxes/, clones/, import/.
// Its children are fixed for the life of the mount, so they are persistent
// inodes that go-fuse looks up and lists itself.
type root struct {
	fixedDir
	boxes  *boxesDir
	clones *clonesDir
}

var (
	_ fs.NodeOnAdder   = (*root)(nil)
	_ fs.NodeGetattrer = (*root)(nil)
	_ fs.NodeStatfser  = (*root)(nil)
)

// newRoot makes the tree; settle is how long an idle copy into clones/
// waits before it is over.
func newRoot(e *env, settle time.Duration) *root {
	return &root{fixedDir: newFixedDir(e), boxes: &boxesDir{newFixedDir(e)}, clones: newClonesDir(e, settle)}
}

// OnAdd makes the fixed children once the root is mounted.
func (r *root) OnAdd(ctx context.Context) {
	e := r.env
	add := func(name string, n node) {
		r.AddChild(name, r.NewPersistentInode(ctx, n, n.stable()), false)
	}
	add("README", &genFile{env: e, ino: inoOf("README"), time: e.mounted,
		content: func(context.Context) ([]byte, error) { return []byte(readme), nil }})
	add("log", &genFile{env: e, ino: inoOf("log"), time: e.mounted,
		content: func(context.Context) ([]byte, error) { return e.log.Bytes(), nil }})
	add("boxes", r.boxes)
	add("clones", r.clones)
	add("import", &importDir{fixedDir: newFixedDir(e), pending: map[string]*fs.Inode{}})
}

// Getattr describes the root directory.
func (r *root) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	attrs(&out.Attr, 1, modeDir, 0, r.env.mounted)
	return 0
}

// Statfs reports the filesystem that holds the home, so that df and
// file managers show real free space.
func (r *root) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	var st syscall.Statfs_t
	if err := syscall.Statfs(r.env.rt.Home(), &st); err != nil {
		return r.env.done("statfs", ".", err)
	}
	out.FromStatfsT(&st)
	return 0
}
