package boxsnap

import (
	"context"
	"io"
	"os"
)

// stageDisk writes one disk member to a new file in dir, hashing it on the
// way. Its size is checked against the caller's cap and against what the
// image's own header allows before a byte of it is written.
func (x *extractor) stageDisk(ctx context.Context, r io.Reader, m member, size int64) (err error) {
	if size > x.opts.MaxMemberSize {
		return corrupt("%s declares %d bytes, more than the %d allowed", m, size, x.opts.MaxMemberSize)
	}
	if x.bufs[0] == nil {
		x.bufs = [2][]byte{make([]byte, bufferSize), make([]byte, bufferSize)}
	}
	head := x.bufs[0][:min(size, VetHeadSize)]
	if _, err := io.ReadFull(r, head); err != nil {
		return x.streamErr("reading "+m.String(), err)
	}
	limit, err := x.opts.Vetter.MaxFileSize(head)
	if err != nil {
		return corrupt("%s is not a valid standalone image: %w", m, err)
	}
	if size > limit {
		return corrupt("%s declares %d bytes, more than an image with its header can hold (%d)", m, size, limit)
	}

	f, err := os.CreateTemp(x.dir, "boxsnap-*-"+m.String())
	if err != nil {
		return wrapf("staging %s: %w", m, err)
	}
	d := &x.disks[m]
	d.path, d.size = f.Name(), size
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = wrapf("staging %s: %w", m, cerr)
		}
	}()
	if d.sum, err = x.copyDisk(ctx, f, r, m, len(head), size); err != nil {
		return err
	}
	d.complete = true
	if err := x.checkSum(m); err != nil {
		return err
	}
	if err := x.opts.Vetter.Verify(f, size); err != nil {
		return corrupt("%s failed image verification: %w", m, err)
	}
	if !x.opts.SkipSync {
		if err := f.Sync(); err != nil {
			return wrapf("syncing staged %s: %w", m, err)
		}
	}
	return nil
}

// copyDisk moves the member's data into f in whole buffers, the first of
// which already holds `filled` bytes, and returns its sha256.
func (x *extractor) copyDisk(ctx context.Context, f *os.File, r io.Reader, m member, filled int, size int64) (sum [32]byte, err error) {
	sink := startSink(f, x.bufs[1])
	defer func() {
		s, serr := sink.finish()
		if err == nil && serr != nil {
			err = wrapf("staging %s: %w", m, serr)
		}
		sum = s
	}()
	buf := x.bufs[0]
	remaining := size - int64(filled)
	for {
		want := int(min(int64(len(buf)-filled), remaining))
		n, err := io.ReadFull(r, buf[filled:filled+want])
		filled += n
		remaining -= int64(n)
		if err != nil {
			return sum, x.streamErr("reading "+m.String(), err)
		}
		if filled < len(buf) && remaining > 0 {
			continue
		}
		sink.submit(buf[:filled])
		if remaining == 0 {
			return sum, nil
		}
		if err := ctx.Err(); err != nil {
			return sum, wrapf("staging %s: %w", m, context.Cause(ctx))
		}
		if buf, err = sink.buffer(); err != nil {
			return sum, wrapf("staging %s: %w", m, err)
		}
		filled = 0
	}
}
