package nodes

import (
	"context"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/boxlite-ai/boxlitefs/fs/ops"
)

// dirAttrs describes a directory; exists, when set, says whether what the
// directory shows is still there (a removed box's directory is ENOENT).
func dirAttrs(ctx context.Context, out *fuse.AttrOut, ino uint64, t time.Time, exists func(context.Context) error) syscall.Errno {
	if exists != nil {
		if err := exists(ctx); err != nil {
			return ops.Errno(err)
		}
	}
	attrs(&out.Attr, ino, modeDir, 0, t)
	return 0
}

// dirStable is the stable identity of a directory.
func dirStable(ino uint64) fs.StableAttr { return fs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino} }
