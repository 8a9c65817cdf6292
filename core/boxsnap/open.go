package boxsnap

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
)

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

// isZeros compares b with itself shifted by one byte, which memequal does
// at memory speed: every byte then equals the first, which is zero.
func isZeros(b []byte) bool {
	return len(b) == 0 || b[0] == 0 && bytes.Equal(b[1:], b[:len(b)-1])
}
