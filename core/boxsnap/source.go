package boxsnap

import (
	"context"
	"errors"
	"io"
)

// sourceReader is the archive as the caller gives it: it counts bytes for
// progress, stops on cancellation, and remembers the source's own failure so
// that it is not mistaken for a corrupt archive.
type sourceReader struct {
	ctx  context.Context
	r    io.Reader
	err  error // the first error other than io.EOF
	prog progress
}

func (s *sourceReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.ctx.Err() != nil {
		s.err = context.Cause(s.ctx)
		return 0, s.err
	}
	n, err := s.r.Read(p)
	s.prog.add(n)
	if err != nil && !errors.Is(err, io.EOF) {
		s.err = err
	}
	return n, err
}

// countingReader tracks the offset reached in a stream.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
