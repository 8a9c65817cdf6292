package nodes

import (
	"context"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/core/snapshot"
	"github.com/boxlite-ai/boxlitefs/fs/ops"
)

// importSuffix names the archives import/ takes.
const importSuffix = ".boxsnap"

// importDir is import/ (SPEC 2.3): creating NAME.boxsnap starts an import
// of box NAME, and the file exists only while it is being written.
type importDir struct {
	fixedDir
	mu      sync.Mutex
	pending map[string]*fs.Inode // archives being written, by file name
}

var (
	_ node             = (*importDir)(nil)
	_ fs.NodeLookuper  = (*importDir)(nil)
	_ fs.NodeReaddirer = (*importDir)(nil)
)

func (d *importDir) stable() fs.StableAttr { return dirStable(inoOf("import")) }

// Getattr describes import/.
func (d *importDir) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	return dirAttrs(out, inoOf("import"), d.env.mounted)
}

// Lookup finds an archive being written.
func (d *importDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	d.mu.Lock()
	ch := d.pending[name]
	d.mu.Unlock()
	if ch == nil {
		return nil, syscall.ENOENT
	}
	var a fuse.AttrOut
	ch.Operations().(node).Getattr(ctx, nil, &a)
	out.Attr = a.Attr
	out.SetEntryTimeout(time.Nanosecond) // it goes away at close: never cache it
	return ch, 0
}

// Readdir lists the archives being written.
func (d *importDir) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	d.mu.Lock()
	defer d.mu.Unlock()
	entries := make([]fuse.DirEntry, 0, len(d.pending))
	for name, ch := range d.pending {
		entries = append(entries, dirEntry(name, syscall.S_IFREG, ch.StableAttr().Ino))
	}
	return listing(entries), 0
}

// Create starts importing box NAME from NAME.boxsnap. A bad or taken name
// fails here, at open(2).
func (d *importDir) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	path := pathOf(d.EmbeddedInode(), name)
	boxName, ok := strings.CutSuffix(name, importSuffix)
	if !ok {
		return nil, nil, 0, d.env.refuse("create", path, "write an archive as import/NAME"+importSuffix, errdefs.ErrInvalid)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pending[name] != nil {
		return nil, nil, 0, d.env.refuse("create", path, "this archive is being written", errdefs.ErrExists)
	}
	// The import outlives this request: it runs under the mount's life.
	session, err := d.env.rt.NewImport(d.env.life, boxName, snapshot.ImportOptions{})
	if err != nil {
		return nil, nil, 0, d.env.done("create", path, err)
	}
	f := &importFile{env: d.env, time: time.Now()}
	ch := d.NewInode(ctx, f, fs.StableAttr{Mode: syscall.S_IFREG})
	f.ino = ch.StableAttr().Ino
	d.pending[name] = ch
	h := ops.NewImportHandle(session, d.env.log, path, func() { d.finished(name, ch) })
	attrs(&out.Attr, f.ino, modeWritable, 0, f.time)
	out.SetEntryTimeout(time.Nanosecond)
	return ch, h, ops.OpenFlags, 0
}

// finished takes an archive out of import/ once its import ended.
func (d *importDir) finished(name string, ch *fs.Inode) {
	d.mu.Lock()
	if d.pending[name] == ch {
		delete(d.pending, name)
	}
	d.mu.Unlock()
	d.RmChild(name)
	// Asynchronously: the kernel may hold locks of the request that ended it.
	go d.NotifyDelete(name, ch)
}

// Unlink refuses to remove an archive being written: closing it ends it.
func (d *importDir) Unlink(ctx context.Context, name string) syscall.Errno {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pending[name] == nil {
		return syscall.ENOENT
	}
	return d.env.refuse("unlink", pathOf(d.EmbeddedInode(), name), "the archive is being imported; closing it ends the import", errdefs.ErrBusy)
}
