package boxsnap

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
)

// DefaultMaxMemberSize caps a disk member when ReadOptions leaves it zero.
const DefaultMaxMemberSize = 4 << 40

// VetHeadSize is how much of a disk member ImageVetter.MaxFileSize sees
// (less only when the member is shorter).
const VetHeadSize = 64 << 10

// ImageVetter is how the engine plugs its image parser in.
type ImageVetter interface {
	// MaxFileSize reads the first bytes of a disk member (VetHeadSize, or the
	// whole member if shorter) and returns the largest file size a valid
	// image with that header can have, or an error if the header is not a
	// valid standalone image.
	MaxFileSize(head []byte) (int64, error)
	// Verify checks the complete staged file (standalone, no backing file,
	// sane tables).
	Verify(f *os.File, size int64) error
}

// ReadOptions says how to verify and stage an archive.
type ReadOptions struct {
	Vetter ImageVetter // required
	// MaxMemberSize caps each disk member; 0 means DefaultMaxMemberSize.
	// The manifest is always capped at MaxManifestSize.
	MaxMemberSize int64
	// InputSize is the archive's size when the caller knows it; it is only
	// passed on to Progress as the total.
	InputSize int64
	// Progress, when set, receives the archive bytes consumed so far and
	// InputSize, or -1 when that is unknown. An Importer calls it from its
	// decoding goroutine.
	Progress func(done, total int64)
	// SkipSync leaves the staged files unsynced, for a caller that syncs them
	// itself before relying on them.
	SkipSync bool
}

func (o ReadOptions) withDefaults() (ReadOptions, error) {
	if o.Vetter == nil {
		return o, invalid("reading an archive needs an ImageVetter")
	}
	if o.MaxMemberSize < 0 {
		return o, invalid("MaxMemberSize %d is negative", o.MaxMemberSize)
	}
	if o.MaxMemberSize == 0 {
		o.MaxMemberSize = DefaultMaxMemberSize
	}
	if o.InputSize <= 0 {
		o.InputSize = -1
	}
	return o, nil
}

// Result is a verified archive: its manifest and both disks staged as new
// files that now belong to the caller.
type Result struct {
	Manifest          Manifest
	GuestDisk         string // path of the staged guest-rootfs.qcow2
	ContainerDisk     string // path of the staged disk.qcow2
	GuestDiskSize     int64  // file sizes of the staged disks
	ContainerDiskSize int64
}

// Remove deletes the staged files, for a caller that gives up on them.
func (r *Result) Remove() error {
	return errors.Join(removeIfExists(r.GuestDisk), removeIfExists(r.ContainerDisk))
}

// Read consumes an archive from r, stages its two disks as new files in dir
// and verifies everything (see the package comment). On any failure it
// removes every file it created; a verification failure wraps
// errdefs.ErrCorrupt and says what was wrong.
func Read(ctx context.Context, r io.Reader, dir string, opts ReadOptions) (*Result, error) {
	x, err := newExtractor(dir, opts)
	if err != nil {
		return nil, err
	}
	// The buffer turns the decoder's many small header reads into few calls
	// on r; large reads bypass it.
	return x.run(ctx, bufio.NewReaderSize(r, bufferSize))
}

func removeIfExists(path string) error {
	if path == "" {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
