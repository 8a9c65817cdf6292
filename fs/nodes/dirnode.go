package nodes

import (
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// dirAttrs describes a directory.
func dirAttrs(out *fuse.AttrOut, ino uint64, t time.Time) syscall.Errno {
	attrs(&out.Attr, ino, modeDir, 0, t)
	return 0
}

// dirStable is the stable identity of a directory.
func dirStable(ino uint64) fs.StableAttr { return fs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino} }
