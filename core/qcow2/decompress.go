package qcow2

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// maxZstdWindow bounds the memory a hostile zstd frame can make a decoder
// take. QEMU compresses one cluster (at most 2 MiB) per frame.
const maxZstdWindow = 4 << 20

// decompressor inflates the compressed clusters of one layer. It keeps its
// decoders in a pool and remembers the last cluster it inflated, because a
// reader that walks a compressed cluster in small pieces would otherwise
// inflate it once per piece.
type decompressor struct {
	clusterSize int
	zstd        bool
	decoders    sync.Pool // *flateDecoder or *zstd.Decoder

	mu       sync.Mutex
	lastHost int64
	last     []byte // never modified once published
}

func newDecompressor(clusterSize int, compression uint8) *decompressor {
	return &decompressor{clusterSize: clusterSize, zstd: compression == compressionZstd, lastHost: -1}
}

// flateDecoder pairs a raw deflate reader with the source it reads, so the
// pair can be reset for the next cluster without allocating.
type flateDecoder struct {
	src bytes.Reader
	r   io.ReadCloser
}

// cluster returns the inflated content of the compressed cluster whose data
// starts at host and spans at most csize bytes of ra (a file of fileSize
// bytes). The returned slice must not be modified.
func (d *decompressor) cluster(ra io.ReaderAt, fileSize, host, csize int64) ([]byte, error) {
	d.mu.Lock()
	if d.lastHost == host {
		out := d.last
		d.mu.Unlock()
		return out, nil
	}
	d.mu.Unlock()

	in := make([]byte, min(csize, fileSize-host)) // callers validated host < fileSize
	if err := readFull(ra, in, host); err != nil {
		return nil, err
	}
	out := make([]byte, d.clusterSize)
	var err error
	if d.zstd {
		err = d.inflateZstd(out, in)
	} else {
		err = d.inflateDeflate(out, in)
	}
	if err != nil {
		return nil, errCorrupt("compressed cluster at %#x: %v", host, err)
	}
	d.mu.Lock()
	d.lastHost, d.last = host, out
	d.mu.Unlock()
	return out, nil
}

// inflateDeflate fills out from a raw deflate stream (QEMU's "zlib" type has
// no zlib header). Decoding stops once out is full: the compressed length is
// rounded up to whole sectors, so bytes may follow the stream.
func (d *decompressor) inflateDeflate(out, in []byte) error {
	fd, _ := d.decoders.Get().(*flateDecoder)
	if fd == nil {
		fd = &flateDecoder{}
		fd.src.Reset(in)
		fd.r = flate.NewReader(&fd.src)
	} else {
		fd.src.Reset(in)
		if err := fd.r.(flate.Resetter).Reset(&fd.src, nil); err != nil {
			return err
		}
	}
	_, err := io.ReadFull(fd.r, out)
	fd.src.Reset(nil)
	d.decoders.Put(fd)
	return err
}

// inflateZstd fills out from a zstd frame, stopping once out is full for the
// same reason as inflateDeflate.
func (d *decompressor) inflateZstd(out, in []byte) error {
	zd, _ := d.decoders.Get().(*zstd.Decoder)
	if zd == nil {
		var err error
		zd, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(maxZstdWindow), zstd.WithDecoderMaxMemory(maxZstdWindow))
		if err != nil {
			return fmt.Errorf("zstd decoder: %w", err)
		}
	}
	// A bytes.Reader (not a bytes.Buffer) keeps the decoder streaming, so
	// it never looks at the sector padding after the frame.
	if err := zd.Reset(bytes.NewReader(in)); err != nil {
		return err
	}
	_, err := io.ReadFull(zd, out)
	_ = zd.Reset(nil) // drop the reference to in
	d.decoders.Put(zd)
	return err
}
