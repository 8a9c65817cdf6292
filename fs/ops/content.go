package ops

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// OpenFlags are the FOPEN flags for every generated file: content is made
// per open and may change between opens, so the page cache must not serve
// one open's bytes to another, and reads must not stop at a stale st_size.
const OpenFlags = fuse.FOPEN_DIRECT_IO

// QuietCloseFlags are OpenFlags for handles that have nothing to do at
// close (readers, and control files, which apply each write when it
// comes): the kernel sends no FLUSH at their close(2), a round trip fewer
// per file that cp or cat opens.
const QuietCloseFlags = OpenFlags | fuse.FOPEN_NOFLUSH

// ContentHandle serves bytes generated when the file was opened (box.json,
// snapshot.json, README, log, a setting's value): every reader sees one
// consistent version from start to end.
type ContentHandle struct {
	data []byte
}

var (
	_ fs.FileReader    = (*ContentHandle)(nil)
	_ fs.FileGetattrer = (*ContentHandle)(nil)
)

// NewContentHandle serves data.
func NewContentHandle(data []byte) *ContentHandle { return &ContentHandle{data: data} }

// Read serves any range of the content.
func (h *ContentHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return fuse.ReadResultData(sliceAt(h.data, dest, off)), 0
}

// contentSource is an open file whose whole content is in memory.
type contentSource interface{ content() []byte }

func (h *ContentHandle) content() []byte { return h.data }

// Getattr reports the size of the content this open sees.
func (h *ContentHandle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	out.Size = uint64(len(h.data))
	return 0
}

// sliceAt is the part of data a read of len(dest) bytes at off returns.
func sliceAt(data, dest []byte, off int64) []byte {
	if off < 0 || off >= int64(len(data)) {
		return nil
	}
	end := off + int64(len(dest))
	if end > int64(len(data)) {
		end = int64(len(data))
	}
	return data[off:end]
}
