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
		s.canRead.Signal()
	}
	return written, nil
}

// Read copies out what is there, waiting for at least one byte; after the
// writer closed and everything was read it returns the writer's error, or
// io.EOF.
func (s *spool) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.n == 0 && s.werr == nil && s.rerr == nil {
		s.canRead.Wait()
	}
	if s.rerr != nil {
		return 0, s.rerr
	}
	if s.n == 0 {
		return 0, s.werr
	}
	c := copy(p, s.buf[s.start:min(s.start+s.n, len(s.buf))])
	s.start = (s.start + c) % len(s.buf)
	s.n -= c
	s.canWrite.Signal()
	return c, nil
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
