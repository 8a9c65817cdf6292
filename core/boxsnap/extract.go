package boxsnap

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
)

const (
	tarBlockSize = 512
	// MaxTrailingZeros is how much zero padding may follow the tar end
	// marker; tar writers pad to a record size (GNU tar: 10 KiB by default).
	MaxTrailingZeros = 1 << 20
)

// extractor verifies one archive and stages its disks. It is used once.
type extractor struct {
	dir      string
	opts     ReadOptions
	bufs     [2][]byte       // staging buffers, allocated with the first disk
	in       *sourceReader   // the archive as given
	tarIn    *countingReader // the tar stream (decompressed when zstd)
	seen     [memberCount]bool
	manifest *Manifest
	disks    [2]stagedDisk // indexed by guestDisk, containerDisk
	dataEnd  int64         // tar stream offset where the last member's data ended
}

// stagedDisk is a disk member written to its own file in dir.
type stagedDisk struct {
	path     string // set as soon as the file exists, so a failure removes it
	size     int64
	sum      [32]byte
	complete bool // all data written and hashed
}

func newExtractor(dir string, opts ReadOptions) (*extractor, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, invalid("staging directory %q is not a directory", dir)
	}
	return &extractor{dir: dir, opts: opts}, nil
}

// run consumes the whole archive from src. On failure every staged file is
// removed before it returns.
func (x *extractor) run(ctx context.Context, src io.Reader) (res *Result, err error) {
	x.in = &sourceReader{ctx: ctx, r: src, prog: progress{report: x.opts.Progress, total: x.opts.InputSize}}
	defer func() {
		if err != nil {
			err = errors.Join(err, x.removeStaged())
		}
	}()
	stream, closeStream, err := x.openStream()
	if err != nil {
		return nil, err
	}
	defer closeStream()
	tr, err := x.openTar(stream)
	if err != nil {
		return nil, err
	}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, x.streamErr("reading a tar header", err)
		}
		if err := x.member(ctx, tr, hdr); err != nil {
			return nil, err
		}
	}
	if err := x.finish(); err != nil {
		return nil, err
	}
	x.in.prog.flush()
	return x.result(), nil
}

// openStream tells zstd from anything else by the first four bytes and
// returns the tar stream.
func (x *extractor) openStream() (io.Reader, func(), error) {
	var magic [4]byte
	n, err := io.ReadFull(x.in, magic[:])
	if n == 0 && errors.Is(err, io.EOF) && x.in.err == nil {
		return nil, nil, corrupt("archive is empty")
	}
	stream := io.MultiReader(bytes.NewReader(magic[:n]), x.in)
	if err != nil || magic != zstdMagic {
		return stream, func() {}, nil // the tar header check decides
	}
	dec, err := newDecoder(stream)
	if err != nil {
		return nil, nil, wrapf("zstd decoder: %w", err)
	}
	return dec, dec.Close, nil
}

// openTar checks that the stream starts as a ustar, PAX or GNU tar (or with
// an end marker) before archive/tar, which also reads pre-POSIX tars, sees it.
func (x *extractor) openTar(stream io.Reader) (*tar.Reader, error) {
	first := make([]byte, tarBlockSize)
	n, err := io.ReadFull(stream, first)
	first = first[:n]
	const magicAt = 257
	hasMagic := n >= magicAt+5 && string(first[magicAt:magicAt+5]) == "ustar"
	short := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
	if err != nil && !short {
		return nil, x.streamErr("reading the first tar header", err)
	}
	if !hasMagic && !isZeros(first) {
		return nil, corrupt("not an archive: neither a zstd stream nor a ustar tar")
	}
	if err != nil {
		return nil, x.streamErr("reading the first tar header", err)
	}
	x.tarIn = &countingReader{r: io.MultiReader(bytes.NewReader(first), stream)}
	return tar.NewReader(x.tarIn), nil
}

func (x *extractor) member(ctx context.Context, tr *tar.Reader, hdr *tar.Header) error {
	m, err := checkMemberHeader(hdr)
	if err != nil {
		return err
	}
	if x.seen[m] {
		return corrupt("member %s appears twice", m)
	}
	x.seen[m] = true
	if m == manifestFile {
		err = x.readManifest(tr, hdr.Size)
	} else {
		err = x.stageDisk(ctx, tr, m, hdr.Size)
	}
	x.dataEnd = x.tarIn.n
	return err
}

func (x *extractor) readManifest(r io.Reader, size int64) error {
	if size > MaxManifestSize {
		return corrupt("%s declares %d bytes, more than %d", MemberManifest, size, MaxManifestSize)
	}
	// ReadAll grows with the bytes that really arrive, not with the claim.
	data, err := io.ReadAll(r)
	if err != nil {
		return x.streamErr("reading "+MemberManifest, err)
	}
	if x.manifest, err = ParseManifest(data); err != nil {
		return err
	}
	for _, m := range []member{guestDisk, containerDisk} {
		if err := x.checkSum(m); err != nil {
			return err
		}
	}
	return nil
}

// checkSum compares a staged disk with the manifest once both are known.
func (x *extractor) checkSum(m member) error {
	d := &x.disks[m]
	if x.manifest == nil || !d.complete {
		return nil
	}
	want := x.manifest.GuestDiskChecksum
	if m == containerDisk {
		want = x.manifest.ContainerDiskChecksum
	}
	if got := formatChecksum(d.sum); got != want {
		return corrupt("%s has checksum %s but the manifest says %s", m, got, want)
	}
	return nil
}

// finish runs once archive/tar reports the end: it insists on the end
// marker (archive/tar also stops quietly at a bare end of input), accepts
// only zero padding after it, and wants every member.
func (x *extractor) finish() error {
	end := roundUp(x.dataEnd, tarBlockSize) + 2*tarBlockSize
	if x.tarIn.n < end {
		return x.streamErr("reading the tar end marker", io.ErrUnexpectedEOF)
	}
	if err := x.checkTrailer(); err != nil {
		return err
	}
	for m := range memberCount {
		if !x.seen[m] {
			return corrupt("archive has no %s", m)
		}
	}
	return nil
}

func (x *extractor) checkTrailer() error {
	var block [tarBlockSize]byte
	var padding int64
	for {
		n, err := x.tarIn.Read(block[:])
		if !isZeros(block[:n]) {
			return corrupt("data follows the tar end marker")
		}
		if padding += int64(n); padding > MaxTrailingZeros {
			return corrupt("more than %d bytes of padding follow the tar end marker", MaxTrailingZeros)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if x.in.err != nil {
				return x.streamErr("reading after the tar end marker", err)
			}
			// The tar stream is complete; only more zstd frames could follow.
			return corrupt("data follows the end of the archive: %w", err)
		}
	}
}

func (x *extractor) result() *Result {
	return &Result{
		Manifest:          *x.manifest,
		GuestDisk:         x.disks[guestDisk].path,
		ContainerDisk:     x.disks[containerDisk].path,
		GuestDiskSize:     x.disks[guestDisk].size,
		ContainerDiskSize: x.disks[containerDisk].size,
	}
}

func (x *extractor) removeStaged() error {
	var errs []error
	for i := range x.disks {
		if err := removeIfExists(x.disks[i].path); err != nil {
			errs = append(errs, wrapf("removing staged file: %w", err))
		}
		x.disks[i] = stagedDisk{}
	}
	return errors.Join(errs...)
}

// streamErr classifies a failure to read the archive: a failing source or a
// cancellation keeps its identity; anything else means the bytes are bad.
func (x *extractor) streamErr(what string, err error) error {
	if x.in.err != nil {
		return wrapf("%s: %w", what, x.in.err)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return corrupt("%s: archive is truncated", what)
	}
	return corrupt("%s: %w", what, err)
}

// isZeros compares b with itself shifted by one byte, which memequal does
// at memory speed: every byte then equals the first, which is zero.
func isZeros(b []byte) bool {
	return len(b) == 0 || b[0] == 0 && bytes.Equal(b[1:], b[:len(b)-1])
}

func roundUp(n, to int64) int64 {
	return (n + to - 1) / to * to
}
