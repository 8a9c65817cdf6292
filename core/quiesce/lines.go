package quiesce

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// ErrLineTooLong reports a line longer than the reader's limit; the line was
// skipped and the next call reads the one after it.
var ErrLineTooLong = fmt.Errorf("protocol line too long: %w", errdefs.ErrCorrupt)

// LineReader reads newline-terminated lines and never holds more than its
// limit of one line in memory, whatever the peer sends.
type LineReader struct {
	r   *bufio.Reader
	max int
	buf []byte
}

// NewLineReader reads lines of at most max bytes (without the newline) from r.
func NewLineReader(r io.Reader, max int) *LineReader {
	return &LineReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// Reset drops any partial line and reads from r from now on.
func (l *LineReader) Reset(r io.Reader) {
	l.r.Reset(r)
	l.buf = l.buf[:0]
}

// Next returns the next line without its newline. The slice is valid until
// the next call. A partial line before the end of the stream is dropped and
// the stream's error (io.EOF at its end) returned.
func (l *LineReader) Next() ([]byte, error) {
	l.buf = l.buf[:0]
	tooLong := false
	for {
		chunk, err := l.r.ReadSlice('\n')
		if !tooLong {
			if len(l.buf)+len(chunk) > l.max+1 {
				tooLong, l.buf = true, l.buf[:0]
			} else {
				l.buf = append(l.buf, chunk...)
			}
		}
		switch {
		case err == nil && tooLong:
			return nil, ErrLineTooLong
		case err == nil:
			return l.buf[:len(l.buf)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			l.buf = l.buf[:0]
			return nil, err
		}
	}
}
