package boxsnap

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"hash"
	"io"
	"time"

	"github.com/klauspost/compress/zstd"
)

// archiveWriter lays out the members of one archive: tar → zstd (when
// compressing) → a buffer → the caller's writer.
type archiveWriter struct {
	out   *bufio.Writer
	enc   *zstd.Encoder // nil for a plain tar
	tw    *tar.Writer
	mtime time.Time
	prog  progress
}

func newArchiveWriter(w io.Writer, opts WriteOptions, mtime time.Time, total int64) (*archiveWriter, error) {
	aw := &archiveWriter{
		out:   bufio.NewWriterSize(w, pageCacheWrite),
		mtime: mtime,
		prog:  progress{report: opts.Progress, total: total},
	}
	var sink io.Writer = aw.out
	if opts.Compress {
		level := opts.Level
		if level == 0 {
			level = DefaultLevel
		}
		var err error
		if aw.enc, err = newEncoder(aw.out, level, opts.Concurrency); err != nil {
			return nil, invalid("zstd encoder: %w", err)
		}
		sink = aw.enc
	}
	aw.tw = tar.NewWriter(sink)
	return aw, nil
}

// close finishes the stream after a successful write; after a failed one
// it only releases the encoder, whose own error would repeat the cause.
func (aw *archiveWriter) close(writeErr error) error {
	if aw.enc != nil {
		if err := aw.enc.Close(); writeErr == nil && err != nil {
			return err
		}
	}
	if writeErr != nil {
		return writeErr
	}
	return aw.out.Flush()
}

func (aw *archiveWriter) write(ctx context.Context, m *Manifest, guest, container Disk) error {
	guestSum, err := aw.writeDisk(ctx, MemberGuestDisk, guest)
	if err != nil {
		return err
	}
	containerSum, err := aw.writeDisk(ctx, MemberContainerDisk, container)
	if err != nil {
		return err
	}
	aw.prog.flush()
	m.GuestDiskChecksum = formatChecksum(guestSum)
	m.ContainerDiskChecksum = formatChecksum(containerSum)
	data, err := m.marshal()
	if err != nil {
		return err
	}
	if err := aw.tw.WriteHeader(memberHeader(MemberManifest, int64(len(data)), aw.mtime)); err != nil {
		return err
	}
	if _, err := aw.tw.Write(data); err != nil {
		return err
	}
	return aw.tw.Close()
}

// writeDisk streams one disk into the tar and returns its sha256.
func (aw *archiveWriter) writeDisk(ctx context.Context, name string, d Disk) ([32]byte, error) {
	var sum [32]byte
	if err := aw.tw.WriteHeader(memberHeader(name, d.Size, aw.mtime)); err != nil {
		return sum, err
	}
	hw := &hashingWriter{ctx: ctx, w: aw.tw, h: sha256.New(), prog: &aw.prog}
	n, err := d.WriteTo(ctx, hw)
	if err != nil {
		return sum, wrapf("writing %s: %w", name, err)
	}
	if n != d.Size || hw.n != d.Size {
		return sum, invalid("disk %s wrote %d bytes but declared %d", name, hw.n, d.Size)
	}
	hw.h.Sum(sum[:0])
	return sum, nil
}

// hashingWriter hashes what passes into the archive, so each byte of a disk
// is read once for both.
type hashingWriter struct {
	ctx  context.Context
	w    io.Writer
	h    hash.Hash
	n    int64
	prog *progress
}

func (hw *hashingWriter) Write(p []byte) (n int, err error) {
	if err := hw.ctx.Err(); err != nil {
		return 0, err
	}
	err = hashAlongside(hw.h, p, func() error {
		n, err = hw.w.Write(p)
		return err
	})
	hw.n += int64(n)
	hw.prog.add(n)
	return n, err
}
