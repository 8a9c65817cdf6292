package boxsnap

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
)

const tarBlockSize = 512

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

func roundUp(n, to int64) int64 {
	return (n + to - 1) / to * to
}
