package qcow2

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// OpenOptions controls Open.
type OpenOptions struct {
	// Format of the file opened; "" probes by magic (qcow2 magic, else raw).
	// Backing files take their format from the backing-format extension, or
	// are probed when it is absent.
	Format Format
	// AllowBacking vets the absolute, cleaned path of every backing file
	// before it is opened (and again, resolved, after). nil refuses any
	// backing file.
	AllowBacking func(path string) error
	// MaxDepth is the most layers a chain may have; 0 = DefaultMaxDepth.
	MaxDepth int
	// CacheBytes bounds the memory of cached L2 tables; 0 = DefaultCacheBytes.
	CacheBytes int64
}

// Open opens the image at path and its whole backing chain.
func Open(path string, opts OpenOptions) (*Image, error) {
	maxDepth := opts.MaxDepth
	if maxDepth == 0 {
		maxDepth = DefaultMaxDepth
	}
	budget := opts.CacheBytes
	if budget == 0 {
		budget = DefaultCacheBytes
	}
	if maxDepth < 0 || budget < 0 {
		return nil, errInvalid("negative MaxDepth %d or CacheBytes %d", maxDepth, budget)
	}
	top, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("qcow2: open %s: %w", path, err)
	}
	img := &Image{cache: newL2Cache(budget)}
	chain := &chainOpener{img: img, seen: map[fileID]string{}}
	if err := chain.open(top, opts.Format, opts.AllowBacking, maxDepth); err != nil {
		_ = img.Close()
		return nil, err
	}
	img.size = img.layers[0].virtualSize()
	return img, nil
}

// fileID identifies a file whatever the path that reached it.
type fileID struct{ dev, ino uint64 }

type chainOpener struct {
	img  *Image
	seen map[fileID]string // files already in the chain: a loop ends here
}

func (c *chainOpener) open(path string, format Format, allow func(string) error, maxDepth int) error {
	for {
		var vet func(string) error
		if len(c.img.layers) > 0 {
			vet = allow // the top file was chosen by the caller; backing files were chosen by bytes
		}
		l, err := c.openLayer(path, format, vet)
		if errors.Is(err, errdefs.ErrNotFound) && len(c.img.layers) > 0 {
			return errCorrupt("backing file %s of %s is missing", path, c.img.layers[len(c.img.layers)-1].info().Path)
		}
		if err != nil {
			return err
		}
		c.img.layers = append(c.img.layers, l)
		q, ok := l.(*qcow2Layer)
		if !ok || q.h.backingFile == "" {
			return nil
		}
		if len(c.img.layers) >= maxDepth {
			return errCorrupt("backing chain of %s is deeper than %d layers", c.img.layers[0].info().Path, maxDepth)
		}
		next, err := backingPath(path, q.h.backingFile)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if allow == nil {
			return errCorrupt("%s has backing file %q and no backing file is allowed", path, q.h.backingFile)
		}
		if err := allow(next); err != nil {
			return fmt.Errorf("qcow2: backing file of %s: %w", path, err)
		}
		if format, err = backingFormat(q.h.backingFormat); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		path = next
	}
}

// openLayer opens one file of the chain. vet, when set, is run again on the
// path the kernel actually opened, so a symlink swapped between the policy
// check and the open cannot lead outside what the policy allows.
func (c *chainOpener) openLayer(path string, format Format, vet func(string) error) (layer, error) {
	f, size, id, err := openFile(path)
	if err != nil {
		return nil, err
	}
	l, err := c.layerOf(f, path, size, id, format, vet)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return l, nil
}

func (c *chainOpener) layerOf(f *os.File, path string, size int64, id fileID, format Format, vet func(string) error) (layer, error) {
	if prev, ok := c.seen[id]; ok {
		return nil, errCorrupt("backing loop: %s is %s, already in the chain", path, prev)
	}
	c.seen[id] = path
	if vet != nil {
		if real, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd()))); err == nil && real != path {
			if err := vet(real); err != nil {
				return nil, fmt.Errorf("qcow2: %s: %w", path, err)
			}
		}
	}
	if format == "" {
		var err error
		if format, err = probe(f, size); err != nil {
			return nil, err
		}
	}
	switch format {
	case FormatRaw:
		// QEMU sizes a raw disk in whole sectors; the tail reads as zeros.
		return &rawLayer{path: path, f: f, size: alignUp(size, sectorSize)}, nil
	case FormatQcow2:
		l, err := openQcow2Layer(path, f, size, int32(len(c.img.layers)), c.img.cache)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return l, nil
	}
	return nil, errUnsupported("format %q of %s", format, path)
}

// openFile opens path read-only without blocking (a FIFO named as a backing
// file must not hang us), refuses anything but a regular file or block
// device, and returns its size and identity.
func openFile(path string) (*os.File, int64, fileID, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err == syscall.ENOENT {
		return nil, 0, fileID{}, fmt.Errorf("qcow2: open %s: %w", path, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, 0, fileID{}, fmt.Errorf("qcow2: open %s: %w", path, &os.PathError{Op: "open", Path: path, Err: err})
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		_ = syscall.Close(fd)
		return nil, 0, fileID{}, fmt.Errorf("qcow2: stat %s: %w", path, err)
	}
	mode := st.Mode & syscall.S_IFMT
	if mode != syscall.S_IFREG && mode != syscall.S_IFBLK {
		_ = syscall.Close(fd)
		return nil, 0, fileID{}, errCorrupt("%s is not a regular file or block device", path)
	}
	if err := syscall.SetNonblock(fd, false); err != nil {
		_ = syscall.Close(fd)
		return nil, 0, fileID{}, fmt.Errorf("qcow2: %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	size := st.Size
	if mode == syscall.S_IFBLK {
		if size, err = f.Seek(0, io.SeekEnd); err != nil {
			_ = f.Close()
			return nil, 0, fileID{}, fmt.Errorf("qcow2: size of %s: %w", path, err)
		}
	}
	return f, size, fileID{dev: uint64(st.Dev), ino: st.Ino}, nil
}

// probe says qcow2 when the file starts with the qcow2 magic, else raw.
func probe(ra io.ReaderAt, size int64) (Format, error) {
	var m [4]byte
	if size < int64(len(m)) {
		return FormatRaw, nil
	}
	if err := readFull(ra, m[:], 0); err != nil {
		return "", err
	}
	if be32(m[:]) == qcowMagic {
		return FormatQcow2, nil
	}
	return FormatRaw, nil
}

// backingPath resolves a backing file name as QEMU does: an absolute name as
// is, a relative one against the directory of the overlay.
func backingPath(overlay, name string) (string, error) {
	// QEMU treats "proto:..." (a colon before any slash) as a protocol.
	if i := strings.IndexAny(name, ":/"); i >= 0 && name[i] == ':' {
		return "", errUnsupported("backing file %q names a protocol", name)
	}
	if filepath.IsAbs(name) {
		return filepath.Clean(name), nil
	}
	return filepath.Join(filepath.Dir(overlay), name), nil
}

// backingFormat maps the backing-format extension to a Format; "" probes.
func backingFormat(name string) (Format, error) {
	switch f := Format(name); f {
	case "", FormatQcow2, FormatRaw:
		return f, nil
	}
	return "", errUnsupported("backing format %q", name)
}

// AllowUnder returns an OpenOptions.AllowBacking policy that admits only
// files inside root once symlinks are resolved. Its errors wrap
// errdefs.ErrCorrupt: an image that points outside its store is bad input.
func AllowUnder(root string) func(path string) error {
	return func(path string) error {
		realRoot, err := resolvePath(root)
		if err != nil {
			return errCorrupt("backing root %s: %v", root, err)
		}
		real, err := resolvePath(path)
		if err != nil {
			return errCorrupt("backing file %s: %v", path, err)
		}
		rel, err := filepath.Rel(realRoot, real)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return errCorrupt("backing file %s (%s) is outside %s", path, real, root)
		}
		return nil
	}
}

func resolvePath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}
