package ops

import (
	"errors"
	"io"
	"sync"
)

// spool is a bounded in-memory pipe: the writer runs ahead of the reader by
// up to its capacity. An export streams through one so that compressing the
// next bytes overlaps with the kernel round trip of each read; an io.Pipe
// would make the two take turns.
type spool struct {
	mu       sync.Mutex
	canRead  *sync.Cond
	canWrite *sync.Cond
	buf      []byte // ring storage
	start    int    // first unread byte
	n        int    // unread bytes
	want     int    // unread bytes a waiting reader needs; 0 when none waits
	werr     error  // set by CloseWrite: readers see it once drained
	rerr     error  // set by CloseRead: writers fail with it
}

func newSpool(capacity int) *spool {
	s := &spool{buf: make([]byte, capacity)}
	s.canRead = sync.NewCond(&s.mu)
	s.canWrite = sync.NewCond(&s.mu)
	return s
}

// Write copies p in, waiting for room; it fails once the reader is gone.
func (s *spool) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	written := 0
	for len(p) > 0 {
		for s.n == len(s.buf) && s.rerr == nil {
			s.canWrite.Wait()
		}
		if s.rerr != nil {
			return written, s.rerr
		}
		end := (s.start + s.n) % len(s.buf)
		room := len(s.buf) - s.n
		if end+room > len(s.buf) {
			room = len(s.buf) - end // up to the end of the ring; the rest next turn
		}
		c := copy(s.buf[end:end+room], p)
		s.n += c
		written += c
		p = p[c:]
		// A reader is woken once its request can be met, not for every
		// block the compressor writes: each wake-up costs a switch.
		if s.want > 0 && (s.n >= s.want || s.n == len(s.buf)) {
			s.canRead.Signal()
		}
	}
	return written, nil
}

// Read copies out what is there, waiting for at least one byte; after the
// writer closed and everything was read it returns the writer's error, or
// io.EOF.
func (s *spool) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.await(1); err != nil {
		return 0, err
	}
	return s.take(p), nil
}

// ReadFull fills p, as io.ReadFull, but wakes once per spool-full rather
// than once per write: io.EOF if the stream ended before any byte,
// io.ErrUnexpectedEOF if it ended part way.
func (s *spool) ReadFull(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	read := 0
	for read < len(p) {
		if err := s.await(min(len(p)-read, len(s.buf))); err != nil {
			if read > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return read, err
		}
		read += s.take(p[read:])
	}
	return read, nil
}

// await waits until want bytes are unread, or at least one once the writer
// closed; it returns the error that ends the stream when none is left.
func (s *spool) await(want int) error {
	for s.n < want && s.werr == nil && s.rerr == nil {
		s.want = want
		s.canRead.Wait()
	}
	s.want = 0
	switch {
	case s.rerr != nil:
		return s.rerr
	case s.n == 0:
		return s.werr
	}
	return nil
}

// take copies out up to len(p) unread bytes and makes room for the writer.
func (s *spool) take(p []byte) int {
	c := 0
	for c < len(p) && s.n > 0 {
		k := copy(p[c:], s.buf[s.start:min(s.start+s.n, len(s.buf))])
		s.start = (s.start + k) % len(s.buf)
		s.n -= k
		c += k
	}
	s.canWrite.Signal()
	return c
}

// CloseWrite ends the stream; nil means a clean end (io.EOF for readers).
func (s *spool) CloseWrite(err error) {
	if err == nil {
		err = io.EOF
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.werr == nil {
		s.werr = err
	}
	s.canRead.Broadcast()
}

// CloseRead abandons the stream: the writer's next Write fails with err.
func (s *spool) CloseRead(err error) {
	if err == nil {
		err = errors.New("spool closed")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rerr == nil {
		s.rerr = err
	}
	s.canWrite.Broadcast()
	s.canRead.Broadcast()
}
