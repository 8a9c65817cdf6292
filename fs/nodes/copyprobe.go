package nodes

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Linux 6.18 asks a FUSE daemon for copy_file_range with
// FUSE_COPY_FILE_RANGE_64 first, which go-fuse answers ENOSYS, and then
// with the older opcode. When the first requests of two copies cross, both
// get ENOSYS, and the kernel takes the second one for the older opcode's
// answer: copy_file_range is then off for the whole mount, and every
// `cp -r` into clones/ moves the disks' bytes instead of references. Ten
// `cp -r` at once on a new mount did that about one time in three. So, as
// go-fuse's WaitMount makes the kernel learn about poll before anything
// else can use the mount, New makes one copy_file_range on a probe file,
// alone, and the kernel learns then that only the older opcode is served.

// copyProbeName is the probe file's name, in the root for the duration of
// the probe only.
const copyProbeName = ".boxlitefs-copy-probe"

// copyProbe is a file of one page that takes any copy_file_range within
// itself as done.
type copyProbe struct {
	fs.Inode
}

var (
	_ fs.NodeGetattrer      = (*copyProbe)(nil)
	_ fs.NodeOpener         = (*copyProbe)(nil)
	_ fs.NodeCopyFileRanger = (*copyProbe)(nil)
)

// copyProbeSize gives the copy a source range: the kernel answers a copy
// from past the end of a file itself.
const copyProbeSize = 4096

func (p *copyProbe) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFREG | 0o600
	out.Nlink = 1
	setSize(&out.Attr, 2*copyProbeSize)
	return 0
}

func (p *copyProbe) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	return nil, fuse.FOPEN_DIRECT_IO, 0
}

func (p *copyProbe) CopyFileRange(ctx context.Context, fhIn fs.FileHandle, offIn uint64, out *fs.Inode,
	fhOut fs.FileHandle, offOut uint64, length uint64, flags uint64) (uint32, syscall.Errno) {
	return uint32(length), 0
}

// probeCopyFileRange puts the probe file in the root, copies one byte
// within it, and takes it away again.
func (r *root) probeCopyFileRange(ctx context.Context, mountpoint string) error {
	r.AddChild(copyProbeName, r.NewPersistentInode(ctx, &copyProbe{}, fs.StableAttr{Mode: syscall.S_IFREG}), false)
	defer func() {
		r.RmChild(copyProbeName)
		_ = r.NotifyEntry(copyProbeName)
	}()
	f, err := os.OpenFile(filepath.Join(mountpoint, copyProbeName), os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("copy_file_range probe: %w", err)
	}
	defer f.Close()
	in, out := int64(0), int64(copyProbeSize)
	if _, err := unix.CopyFileRange(int(f.Fd()), &in, int(f.Fd()), &out, 1, 0); err != nil {
		return fmt.Errorf("copy_file_range probe: %w", err)
	}
	return nil
}
