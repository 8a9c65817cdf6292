package ops

import (
	"context"
	"strconv"
	"strings"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Apply carries out a value written to a control file (a snapshot name for
// `restore`, a state, a setting's value).
type Apply func(ctx context.Context, value string) error

// ControlHandle is an open control file. Each write(2) is one command,
// applied at once so that its error reaches the writer: bash drops errors
// that only come at close, and there is nothing left to do then (it opens
// with QuietCloseFlags). It also serves the file's content as of open.
type ControlHandle struct {
	ContentHandle
	apply Apply
	log   *Log
	path  string
}

var (
	_ fs.FileWriter    = (*ControlHandle)(nil)
	_ fs.FileSetattrer = (*ControlHandle)(nil)
)

// NewControlHandle serves content and applies writes with apply; path names
// the file in log lines.
func NewControlHandle(content []byte, apply Apply, log *Log, path string) *ControlHandle {
	return &ControlHandle{ContentHandle: ContentHandle{data: content}, apply: apply, log: log, path: path}
}

// Write applies the written value. A trailing newline (echo) is not part of
// it; the offset does not matter since a write is a command, not content.
func (h *ControlHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	value := strings.TrimSuffix(string(data), "\n")
	if errno := h.log.Done("write", h.path+" "+quoteValue(value), h.apply(ctx, value)); errno != 0 {
		return 0, errno
	}
	return uint32(len(data)), 0
}

// Setattr accepts the truncation that `echo v > file` sends before its
// write (OPEN, SETATTR size=0, WRITE); other changes are ignored.
func (h *ControlHandle) Setattr(ctx context.Context, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	out.Size = uint64(len(h.data))
	return 0
}

// quoteValue keeps a log line on one line and short whatever was written.
func quoteValue(v string) string {
	const max = 64
	if len(v) > max {
		v = v[:max] + "..."
	}
	return strconv.Quote(v)
}
