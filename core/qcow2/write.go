package qcow2

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

const (
	// chunkSize is how much of an image is generated per step: a multiple
	// of every cluster size, large enough that a data run is one read.
	chunkSize = 4 << 20
	// chunksAhead is how many chunks the generator may run ahead of the
	// writer, so reading the source and writing the output overlap.
	chunksAhead = 2
	// sparsePage is the granularity at which all-zero output is skipped.
	sparsePage = 4096
	// maxWorkers bounds the chunks WriteFile generates at once. Writers of
	// one file contend for its inode lock: past two, they spin in the kernel
	// (measured: a third worker sometimes tripled the run time).
	maxWorkers = 2
)

// WriteTo writes the whole image to w, sequentially.
func (f *Flat) WriteTo(w io.Writer) (int64, error) {
	return f.WriteToContext(context.Background(), w)
}

// WriteToContext writes the whole image to w, sequentially, reading each
// data cluster of the source once and holding at most a few chunks.
func (f *Flat) WriteToContext(ctx context.Context, w io.Writer) (int64, error) {
	var written int64
	err := f.stream(ctx, func(p []byte, _ int64) error {
		n, err := w.Write(p)
		written += int64(n)
		return err
	})
	return written, err
}

type chunk struct {
	buf []byte
	off int64
	err error
}

// stream generates the image in order and hands each chunk to put; a
// goroutine generates the next chunks while put consumes this one.
func (f *Flat) stream(ctx context.Context, put func(p []byte, off int64) error) error {
	size := f.Size()
	if size <= chunkSize { // small images (a new overlay): no goroutine
		buf := make([]byte, size)
		if _, err := f.ReadAt(buf, 0); err != nil {
			return err
		}
		return put(buf, 0)
	}
	var generator sync.WaitGroup
	defer generator.Wait() // never return while it still reads the source
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	free := make(chan []byte, chunksAhead+1)
	for range chunksAhead + 1 {
		free <- make([]byte, chunkSize)
	}
	full := make(chan chunk, chunksAhead)
	generator.Go(func() {
		defer close(full)
		for off := int64(0); off < size; off += chunkSize {
			var buf []byte
			select {
			case buf = <-free:
			case <-ctx.Done():
				return
			}
			buf = buf[:min(chunkSize, size-off)]
			_, err := f.ReadAt(buf, off)
			select {
			case full <- chunk{buf, off, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	})
	for c := range full {
		if c.err != nil {
			return c.err
		}
		if err := put(c.buf, c.off); err != nil {
			return err
		}
		free <- c.buf[:cap(c.buf)]
	}
	return ctx.Err()
}

// WriteFile writes the flattened image of src to a new file at path (which
// must not exist), skipping all-zero pages so the file is sparse, then makes
// the file and its directory entry durable. On error nothing is left at path.
func WriteFile(ctx context.Context, path string, src Source, opts FlattenOptions) error {
	flat, err := Flatten(ctx, src, opts)
	if err != nil {
		return err
	}
	return flat.writeFile(ctx, path)
}

func (f *Flat) writeFile(ctx context.Context, path string) error {
	durable := !f.opts.NoSync
	return writeNewFile(path, f.Size(), durable, func(out *os.File) error {
		return f.inParallel(ctx, func(p []byte, off int64) error {
			if err := writeSparse(out, p, off); err != nil {
				return err
			}
			if durable {
				// Start writing each chunk back now: the final fsync then
				// has little left, and the page cache never holds enough
				// of the file's dirty pages for the kernel to throttle us.
				_ = unix.SyncFileRange(int(out.Fd()), off, int64(len(p)), unix.SYNC_FILE_RANGE_WRITE)
			}
			return nil
		})
	})
}

// inParallel generates the image chunk by chunk in several workers, each
// handing its chunks to put, in no particular order. Copying into the page
// cache is the bottleneck of writing a file; workers spread it over the
// cores, as QEMU's I/O threads do.
func (f *Flat) inParallel(ctx context.Context, put func(p []byte, off int64) error) error {
	size := f.Size()
	workers := max(1, min(int(ceilDiv(size, chunkSize)), runtime.GOMAXPROCS(0), maxWorkers))
	var next atomic.Int64 // index of the next chunk to take
	errs := make([]error, workers)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := func(w int) {
		buf := make([]byte, min(chunkSize, size))
		for ctx.Err() == nil {
			off := next.Add(1) - 1
			if off *= chunkSize; off >= size {
				return
			}
			p := buf[:min(chunkSize, size-off)]
			if _, err := f.ReadAt(p, off); err != nil {
				errs[w] = err
			} else {
				errs[w] = put(p, off)
			}
			if errs[w] != nil {
				cancel()
				return
			}
		}
	}
	if workers == 1 { // a small image (a new overlay): no goroutine
		work(0)
	} else {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() { work(w) })
		}
		wg.Wait()
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return ctx.Err()
}

// writeNewFile creates path exclusively, lets fill write it, sets its size,
// and syncs it and its directory. On error it removes what it created.
func writeNewFile(path string, size int64, sync bool, fill func(*os.File) error) (err error) {
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("qcow2: create %s: %w", path, errdefs.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("qcow2: create: %w", err)
	}
	defer func() {
		if err != nil {
			_ = out.Close()
			_ = os.Remove(path)
		}
	}()
	if err := fill(out); err != nil {
		return err
	}
	if err := out.Truncate(size); err != nil {
		return fmt.Errorf("qcow2: %w", err)
	}
	if sync {
		if err := out.Sync(); err != nil {
			return fmt.Errorf("qcow2: sync %s: %w", path, err)
		}
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("qcow2: close %s: %w", path, err)
	}
	if !sync {
		return nil
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("qcow2: sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("qcow2: sync directory %s: %w", dir, err)
	}
	return nil
}

// writeSparse writes the pages of p that are not all zeros at off of out,
// a new file whose unwritten ranges read as zeros.
func writeSparse(out *os.File, p []byte, off int64) error {
	for i := 0; i < len(p); {
		start := i
		for start < len(p) && isZero(p[start:min(start+sparsePage, len(p))]) {
			start += sparsePage
		}
		end := start
		for end < len(p) && !isZero(p[end:min(end+sparsePage, len(p))]) {
			end += sparsePage
		}
		start, end = min(start, len(p)), min(end, len(p))
		if end > start {
			if _, err := out.WriteAt(p[start:end], off+int64(start)); err != nil {
				return fmt.Errorf("qcow2: write: %w", err)
			}
		}
		i = end
	}
	return nil
}

// isZero reports whether b is all zeros: the first byte is zero and every
// byte equals the next (one memcmp, vectorised by the runtime).
func isZero(b []byte) bool {
	return len(b) == 0 || b[0] == 0 && bytes.Equal(b[1:], b[:len(b)-1])
}
