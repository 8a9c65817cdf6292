package ops

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// streamOf is an export that writes data in pieces of odd sizes, then err.
func streamOf(data []byte, err error) ExportFunc {
	return func(ctx context.Context, w io.Writer) error {
		rng := rand.New(rand.NewPCG(2, 3))
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(200_000))
			if _, err := w.Write(rest[:n]); err != nil {
				return err
			}
			rest = rest[n:]
		}
		return err
	}
}

// read is one read(2) of the export as go-fuse serves it: the result's
// bytes, then Done.
func read(t *testing.T, h *ExportHandle, size int, off int64) ([]byte, syscall.Errno) {
	t.Helper()
	r, errno := h.Read(context.Background(), make([]byte, size), off)
	if errno != 0 {
		return nil, errno
	}
	b, st := r.Bytes(make([]byte, 0, size))
	got := bytes.Clone(b)
	r.Done()
	if st != fuse.OK {
		t.Fatalf("bytes: %v", st)
	}
	return got, 0
}

// TestExportStream: reads of any size take the stream in order, every read
// full but the last (the ring wraps around many times), and a read ahead
// of the stream skips to it.
func TestExportStream(t *testing.T) {
	data := make([]byte, 3*exportSpool+12345)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	h := NewExportHandle(streamOf(data, nil), NewLog(10, nil), "export.boxsnap")
	defer h.Release(context.Background())
	const skip = 1000
	var got []byte
	for off := int64(skip); ; {
		b, errno := read(t, h, 300<<10, off)
		if errno != 0 {
			t.Fatalf("read at %d: %v", off, errno)
		}
		if len(b) == 0 {
			break
		}
		if len(b) < 300<<10 && off+int64(len(b)) != int64(len(data)) {
			t.Fatalf("a short read at %d before the end", off)
		}
		got = append(got, b...)
		off += int64(len(b))
	}
	if !bytes.Equal(got, data[skip:]) {
		t.Fatalf("read %d bytes, they differ from the stream's %d", len(got), len(data)-skip)
	}
	if _, errno := read(t, h, 10, 0); errno != syscall.EINVAL {
		t.Fatalf("a read behind the stream: %v, want EINVAL", errno)
	}
}

// TestExportFailure: an export that fails is an error at the read that
// meets it, never a short read (which the kernel takes for the end).
func TestExportFailure(t *testing.T) {
	h := NewExportHandle(streamOf(make([]byte, 100), fmt.Errorf("disk: %w", errdefs.ErrCorrupt)), NewLog(10, nil), "export.boxsnap")
	defer h.Release(context.Background())
	if b, errno := read(t, h, 4096, 0); errno != syscall.EBADMSG {
		t.Fatalf("read of a failed export: %d bytes, %v; want EBADMSG", len(b), errno)
	}
}
