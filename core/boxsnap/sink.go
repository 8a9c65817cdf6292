package boxsnap

import (
	"crypto/sha256"
	"hash"
	"io"
	"os"
)

// stagingSink hashes and writes a disk's data in a goroutine of its own, so
// that decoding the next buffer overlaps hashing and writing this one (and
// those two overlap each other).
// Buffers travel between the two sides and are never shared.
type stagingSink struct {
	f      *os.File
	h      hash.Hash
	full   chan []byte   // filled buffers, in stream order
	empty  chan []byte   // buffers free for refilling
	failed chan error    // the first write failure, as soon as it happens
	done   chan struct{} // closed when the goroutine has finished
	err    error         // the first write failure; read after done
	closed bool
}

// startSink takes over f. The caller keeps one buffer to fill first; spare
// is the other.
func startSink(f *os.File, spare []byte) *stagingSink {
	s := &stagingSink{
		f:      f,
		h:      sha256.New(),
		full:   make(chan []byte, 2),
		empty:  make(chan []byte, 2),
		failed: make(chan error, 1),
		done:   make(chan struct{}),
	}
	s.empty <- spare
	go s.run()
	return s
}

func (s *stagingSink) run() {
	defer close(s.done)
	var size int64
	for b := range s.full {
		if s.err == nil {
			size += int64(len(b))
			if err := hashAlongside(s.h, b, func() error { return s.write(b, size) }); err != nil {
				s.err = err
				s.failed <- err
			}
		}
		s.empty <- b[:cap(b)]
	}
}

// write stores b, which ends at offset size. A buffer of zeros becomes a
// hole (the file is extended over it), as preallocated images are full of
// them; the file's length is set for every buffer so that it ends right.
func (s *stagingSink) write(b []byte, size int64) error {
	if !isZeros(b) {
		return writeInPieces(s.f, b)
	}
	if _, err := s.f.Seek(int64(len(b)), io.SeekCurrent); err != nil {
		return err
	}
	return s.f.Truncate(size)
}

// submit queues a filled buffer; the sink owns it until buffer returns it.
func (s *stagingSink) submit(b []byte) {
	s.full <- b
}

// buffer returns a free buffer, or the write failure that stopped the sink.
func (s *stagingSink) buffer() ([]byte, error) {
	select {
	case err := <-s.failed:
		return nil, err
	case b := <-s.empty:
		return b, nil
	}
}

// finish waits for every queued buffer and returns the data's sha256. It
// must be called once the caller stops submitting, whether it failed or not.
func (s *stagingSink) finish() (sum [32]byte, err error) {
	if !s.closed {
		s.closed = true
		close(s.full)
	}
	<-s.done
	if s.err != nil {
		return sum, s.err
	}
	s.h.Sum(sum[:0])
	return sum, nil
}
