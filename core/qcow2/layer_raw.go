package qcow2

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lseek whence values for sparse files (Linux); the syscall package lacks them.
const (
	seekData = 3
	seekHole = 4
)

// rawLayer reads a raw file: guest offset = file offset.
type rawLayer struct {
	path string
	f    *os.File
	size int64
}

func (l *rawLayer) info() LayerInfo {
	return LayerInfo{Path: l.path, Format: FormatRaw, Size: l.size}
}

func (l *rawLayer) virtualSize() int64 { return l.size }

func (l *rawLayer) close() error { return l.f.Close() }

func (l *rawLayer) read(p []byte, s segment, off int64) error {
	return readHost(l.f, p, off)
}

// mapRange reports the whole range as data unless precise, when it asks the
// filesystem for holes (SEEK_DATA/SEEK_HOLE) and reports them unallocated.
func (l *rawLayer) mapRange(off, n int64, precise bool, fn func(segment) error) error {
	end := off + n
	if !precise {
		return fn(segment{off: off, length: n, kind: clusterData, host: off})
	}
	for off < end {
		data, err := l.seek(off, seekData, end)
		if err != nil {
			return err
		}
		data = min(data, end)
		if data > off {
			if err := fn(segment{off: off, length: data - off}); err != nil {
				return err
			}
		}
		if data == end {
			return nil
		}
		hole, err := l.seek(data, seekHole, end)
		if err != nil {
			return err
		}
		hole = min(hole, end)
		if err := fn(segment{off: data, length: hole - data, kind: clusterData, host: data}); err != nil {
			return err
		}
		off = hole
	}
	return nil
}

// seek is lseek with SEEK_DATA or SEEK_HOLE. ENXIO (no data past off) gives
// ifNone; a filesystem without hole support reports all data, which is
// right. lseek moves the shared file offset, which nothing here uses: reads
// are pread.
func (l *rawLayer) seek(off int64, whence int, ifNone int64) (int64, error) {
	pos, err := l.f.Seek(off, whence)
	switch {
	case err == nil:
		return pos, nil
	case errors.Is(err, syscall.ENXIO):
		return ifNone, nil
	case errors.Is(err, syscall.EINVAL) && whence == seekData:
		return off, nil // no SEEK_DATA support: everything is data
	case errors.Is(err, syscall.EINVAL):
		return ifNone, nil
	}
	return 0, fmt.Errorf("qcow2: seek in %s: %w", l.path, err)
}
