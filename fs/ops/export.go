package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// ExportFunc streams an archive into w until done or ctx is cancelled.
type ExportFunc func(ctx context.Context, w io.Writer) error

// ExportHandle is an open export.boxsnap (SPEC 2.3): the archive is made on
// the fly by a goroutine writing into a pipe, and read(2) takes it in order.
// The file reports size 0 and is served with direct I/O, so readers read to
// EOF instead of stopping at st_size. Nothing is generated until the first
// read, and release cancels the export and waits for it.
type ExportHandle struct {
	export ExportFunc
	log    *Log
	path   string

	mu     sync.Mutex
	pos    int64
	pr     *spool
	cancel context.CancelFunc
	done   chan struct{}
}

var (
	_ fs.FileReader   = (*ExportHandle)(nil)
	_ fs.FileReleaser = (*ExportHandle)(nil)
)

// exportSpool is how far an export may run ahead of its reader.
const exportSpool = 4 << 20

// errReleased ends an export whose reader closed the file.
var errReleased = errors.New("export.boxsnap was closed")

// NewExportHandle streams what export writes.
func NewExportHandle(export ExportFunc, log *Log, path string) *ExportHandle {
	return &ExportHandle{export: export, log: log, path: path}
}

func (h *ExportHandle) start() {
	ctx, cancel := context.WithCancel(context.Background())
	pipe := newSpool(exportSpool)
	h.pr, h.cancel, h.done = pipe, cancel, make(chan struct{})
	go func() {
		defer close(h.done)
		err := h.export(ctx, pipe)
		if err != nil && !errors.Is(err, errReleased) && ctx.Err() == nil {
			h.log.Done("export", h.path, err)
		} else if err == nil {
			h.log.Done("export", h.path, nil)
		}
		pipe.CloseWrite(err) // nil: readers see EOF
	}()
}

// Read returns the next bytes of the stream. Each read is filled completely
// except at the end, since a short direct-I/O read means EOF to the kernel.
// The archive is made once, in order: a read ahead of the stream skips to
// it (GNU tar seeks over members it lists), a read behind it is EINVAL.
func (h *ExportHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if off < h.pos {
		return nil, h.log.Done("read", h.path, fmt.Errorf("read at %d after %d bytes: the archive is a stream, read it in order: %w",
			off, h.pos, errdefs.ErrInvalid))
	}
	if h.pr == nil {
		h.start()
	}
	if off > h.pos {
		skipped, err := io.CopyN(io.Discard, h.pr, off-h.pos)
		h.pos += skipped
		if err != nil {
			return h.result(dest[:0], err)
		}
	}
	n, err := h.pr.ReadFull(dest)
	h.pos += int64(n)
	return h.result(dest[:n], err)
}

// result answers a read with what it got: the end of the stream is a short
// read, a failed export the errno of its error (logged by the export).
func (h *ExportHandle) result(data []byte, err error) (fuse.ReadResult, syscall.Errno) {
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fuse.ReadResultData(data), 0
	}
	return nil, Errno(err)
}

// Release cancels an unfinished export and waits until it let go of its
// disk views.
func (h *ExportHandle) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.pr != nil {
		h.cancel()
		h.pr.CloseRead(errReleased)
		<-h.done
	}
	return 0
}
