package ops

import (
	"context"
	"fmt"
	"io"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// intake is what the handles that take a written file into the engine
// share: a disk image (DiskWriteHandle), a file copied into clones/
// (IncomingHandle), an archive written into import/ (ImportHandle).
//
// A handle ends once: when the engine takes the file (at flush), or when
// what came is dropped. The first refusal ends it too, and every later
// write and flush returns that refusal again, so that the writer meets it
// on whichever call it checks: bash checks only write(2), cp and Python
// check close(2) as well.
type intake struct {
	log   *Log
	path  string
	drop  func() // drops what came (the engine's Abort)
	onEnd func() // if set, runs once the handle ended
	taken string // why a handle whose file the engine took refuses more

	mu    sync.Mutex
	size  int64 // the file's size as its writer sees it
	err   error // the refusal that ended the handle
	ended bool
}

// Getattr reports the file's size as its writer sees it.
func (in *intake) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	in.mu.Lock()
	defer in.mu.Unlock()
	out.Size = uint64(in.size)
	return 0
}

// refusalLocked is 0 while the handle takes data; once it ended, op's
// refusal, logged.
func (in *intake) refusalLocked(op string) syscall.Errno {
	switch {
	case in.err != nil:
		return in.log.Done(op, in.path, in.err)
	case in.ended:
		return in.log.Done(op, in.path, fmt.Errorf("%s: %w", in.taken, errdefs.ErrInvalid))
	}
	return 0
}

// failLocked ends the handle with err, logged as op's refusal: what came is
// dropped, and every later call returns err again.
func (in *intake) failLocked(op string, err error) syscall.Errno {
	in.err = err
	in.dropLocked()
	return in.log.Done(op, in.path, err)
}

// dropLocked ends the handle and drops what came, unless it ended already.
func (in *intake) dropLocked() {
	if !in.ended {
		in.drop()
		in.endLocked()
	}
}

func (in *intake) endLocked() {
	if in.ended {
		return
	}
	in.ended = true
	if in.onEnd != nil {
		in.onEnd()
	}
}

// pendingLocked says whether a flush has a file to hand over; when it has
// not, errno is what the flush returns: the refusal that ended the handle,
// again, or 0.
func (in *intake) pendingLocked() (errno syscall.Errno, pending bool) {
	switch {
	case in.err != nil:
		return Errno(in.err), false
	case in.ended:
		return 0, false
	}
	return 0, true
}

// takeLocked hands the file to the engine with take and ends the handle;
// take's refusal is kept for later calls.
func (in *intake) takeLocked(take func() error) error {
	err := take()
	in.err = err
	in.endLocked()
	return err
}

// appendLocked writes data, which the writer put at off, to w, which takes
// the file in order from offset 0 (an image, an archive). A write past the
// end first fills the gap with zeros: sparse-aware writers (cp, dd
// conv=sparse) seek over holes, and a hole reads as zeros. A write before
// the end is EINVAL.
func (in *intake) appendLocked(w io.Writer, data []byte, off int64) (int, error) {
	if off < in.size {
		return 0, fmt.Errorf("write at %d after %d bytes: the file is taken in order, from offset 0: %w", off, in.size, errdefs.ErrInvalid)
	}
	if err := in.growLocked(w, off); err != nil {
		return 0, err
	}
	n, err := w.Write(data)
	in.size += int64(n)
	return n, err
}

// growLocked fills the file with zeros up to size: a hole before a write,
// or at the end (cp's ftruncate after a trailing hole).
func (in *intake) growLocked(w io.Writer, size int64) error {
	var zeros []byte
	for in.size < size {
		if zeros == nil {
			zeros = make([]byte, min(size-in.size, 1<<20))
		}
		n, err := w.Write(zeros[:min(size-in.size, int64(len(zeros)))])
		in.size += int64(n)
		if err != nil {
			return err
		}
	}
	return nil
}
