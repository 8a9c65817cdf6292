package boxsnap

import (
	"context"
	"io"
	"time"
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
