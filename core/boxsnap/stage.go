package boxsnap

import (
	"context"
	"crypto/sha256"
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
	if x.buf == nil {
		x.buf = make([]byte, bufferSize)
	}
	head := x.buf[:min(size, VetHeadSize)]
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
	if err := x.copyDisk(ctx, f, r, m, len(head), size); err != nil {
		return err
	}
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

// copyDisk moves the member's data (of which x.buf[:buffered] has already
// been read) into f in whole buffers, hashing as it goes.
func (x *extractor) copyDisk(ctx context.Context, f *os.File, r io.Reader, m member, buffered int, size int64) error {
	h := sha256.New()
	remaining := size - int64(buffered)
	for {
		want := int(min(int64(len(x.buf)-buffered), remaining))
		n, err := io.ReadFull(r, x.buf[buffered:buffered+want])
		buffered += n
		remaining -= int64(n)
		if err != nil {
			return x.streamErr("reading "+m.String(), err)
		}
		if buffered == len(x.buf) || remaining == 0 {
			chunk := x.buf[:buffered]
			h.Write(chunk)
			if _, err := f.Write(chunk); err != nil {
				return wrapf("staging %s: %w", m, err)
			}
			buffered = 0
		}
		if remaining == 0 {
			break
		}
		if err := ctx.Err(); err != nil {
			return wrapf("staging %s: %w", m, context.Cause(ctx))
		}
	}
	d := &x.disks[m]
	h.Sum(d.sum[:0])
	d.complete = true
	return nil
}
