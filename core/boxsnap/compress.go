package boxsnap

import (
	"io"
	"runtime"

	"github.com/klauspost/compress/zstd"
)

// zstdMagic starts every zstd frame (RFC 8878), little-endian 0xFD2FB528.
var zstdMagic = [4]byte{0x28, 0xB5, 0x2F, 0xFD}

// MaxDecoderWindow bounds the memory a zstd stream may ask the decoder for.
// Archives from this package use an 8 MiB window; `zstd -19` uses 8 MiB and
// `zstd --ultra -21` 64 MiB. Streams that need more are refused.
const MaxDecoderWindow = 64 << 20

// DefaultLevel is BoxLite's default compression level.
const DefaultLevel = 3

// newEncoder compresses into w at a zstd level (1..22) mapped onto the
// encoder's four speeds.
func newEncoder(w io.Writer, level, concurrency int) (*zstd.Encoder, error) {
	if concurrency == 0 {
		concurrency = runtime.GOMAXPROCS(0)
	}
	return zstd.NewWriter(w,
		zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
		zstd.WithEncoderConcurrency(concurrency),
	)
}

// newDecoder decompresses r synchronously in the caller's goroutine: the
// decoder reads input only when it needs it, so an error is seen as soon as
// the bytes that cause it arrive, and no goroutine outlives a failure.
func newDecoder(r io.Reader) (*zstd.Decoder, error) {
	return zstd.NewReader(r,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxWindow(MaxDecoderWindow),
		zstd.WithDecoderMaxMemory(MaxDecoderWindow),
	)
}
