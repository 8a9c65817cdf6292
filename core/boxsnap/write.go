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

// bufferSize is the unit of transfer between stages: large enough that
// per-call costs vanish, small enough to stay far under the memory budget.
const bufferSize = 1 << 20

// Disk is one disk member to write.
type Disk struct {
	// Size is the exact number of bytes WriteTo writes; it goes into the tar
	// header before any data.
	Size int64
	// WriteTo streams the image to w, for example a flattened qcow2.
	WriteTo func(ctx context.Context, w io.Writer) (int64, error)
}

// WriteOptions says how Write encodes an archive.
type WriteOptions struct {
	Compress    bool      // zstd when true, plain tar when false
	Level       int       // zstd level 1..22; 0 means DefaultLevel
	Concurrency int       // encoder goroutines; 0 means runtime.GOMAXPROCS; the bytes do not depend on it
	ModTime     time.Time // mtime of every member, whole seconds; zero means the Unix epoch
	// Progress, when set, receives the disk bytes streamed so far and their
	// total (both disks' Size).
	Progress func(done, total int64)
}

func (o *WriteOptions) validate() error {
	if o.Level < 0 || o.Level > 22 {
		return invalid("compression level %d is outside 1..22", o.Level)
	}
	if o.Concurrency < 0 {
		return invalid("concurrency %d is negative", o.Concurrency)
	}
	return nil
}

// Write streams an archive of the two disks to w: each disk is read once
// and hashed on its way into the tar; manifest.json, carrying those
// checksums, comes last. Write fills m's version and checksums (and
// exported_at from ModTime when zero). Equal inputs give identical bytes.
func Write(ctx context.Context, w io.Writer, m Manifest, guest, container Disk, opts WriteOptions) error {
	if err := validateWrite(&m, guest, container, &opts); err != nil {
		return err
	}
	mtime := time.Unix(0, 0)
	if !opts.ModTime.IsZero() {
		mtime = opts.ModTime.Truncate(time.Second)
	}
	m.Version = ManifestVersion
	if m.ExportedAt.IsZero() {
		m.ExportedAt = mtime.UTC()
	}
	aw, err := newArchiveWriter(w, opts, mtime, guest.Size+container.Size)
	if err != nil {
		return err
	}
	return aw.close(aw.write(ctx, &m, guest, container))
}

func validateWrite(m *Manifest, guest, container Disk, opts *WriteOptions) error {
	if err := opts.validate(); err != nil {
		return err
	}
	for i, d := range []Disk{guest, container} {
		if d.Size < 0 || d.WriteTo == nil {
			return invalid("disk %s has no data or a negative size", member(i))
		}
	}
	if err := checkOptions(m.Options); err != nil {
		return invalid("manifest options: %w", err)
	}
	return nil
}

// archiveWriter lays out the members of one archive: tar → zstd (when
// compressing) → a large buffer → the caller's writer.
type archiveWriter struct {
	out   *bufio.Writer
	enc   *zstd.Encoder // nil for a plain tar
	tw    *tar.Writer
	mtime time.Time
	prog  progress
}

func newArchiveWriter(w io.Writer, opts WriteOptions, mtime time.Time, total int64) (*archiveWriter, error) {
	aw := &archiveWriter{
		out:   bufio.NewWriterSize(w, bufferSize),
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

// hashPiece is zstd's largest block. Handing over and hashing one piece at a
// time lets the encoder compress a block while the caller hashes it; hashing
// a large write whole would leave the encoder idle meanwhile.
const hashPiece = 128 << 10

// hashingWriter hashes what passes into the archive, so each byte of a disk
// is read once for both.
type hashingWriter struct {
	ctx  context.Context
	w    io.Writer
	h    hash.Hash
	n    int64
	prog *progress
}

func (hw *hashingWriter) Write(p []byte) (int, error) {
	if err := hw.ctx.Err(); err != nil {
		return 0, err
	}
	var written int
	for len(p) > 0 {
		n, err := hw.w.Write(p[:min(len(p), hashPiece)])
		hw.h.Write(p[:n])
		written += n
		hw.n += int64(n)
		hw.prog.add(n)
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}
