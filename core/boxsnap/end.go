package boxsnap

import (
	"errors"
	"io"
)

// MaxTrailingZeros is how much zero padding may follow the tar end marker;
// tar writers pad to a record size (GNU tar: 10 KiB by default).
const MaxTrailingZeros = 1 << 20

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
