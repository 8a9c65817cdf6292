package boxsnap

import (
	"context"
	"io"
)

// feed turns a sequence of Write calls into the io.Reader a decoding
// goroutine consumes. Each chunk is handed over whole and acknowledged only
// when the reader comes back for more, that is after everything the chunk
// made decodable has been processed: so when a Write returns, the verdict
// on its bytes is known.
type feed struct {
	ctx      context.Context
	chunks   chan []byte   // writer → reader; closed to signal the end of input
	consumed chan struct{} // reader → writer: the last chunk is used up
	cur      []byte        // the unread rest of the current chunk
	pending  bool          // a chunk was taken and is not acknowledged yet
}

func newFeed(ctx context.Context) *feed {
	return &feed{ctx: ctx, chunks: make(chan []byte), consumed: make(chan struct{})}
}

// Read runs in the decoding goroutine.
func (f *feed) Read(p []byte) (int, error) {
	for len(f.cur) == 0 {
		if f.pending {
			f.pending = false
			select {
			case f.consumed <- struct{}{}:
			case <-f.ctx.Done():
				return 0, context.Cause(f.ctx)
			}
		}
		select {
		case chunk, ok := <-f.chunks:
			if !ok {
				return 0, io.EOF
			}
			f.cur, f.pending = chunk, true
		case <-f.ctx.Done():
			return 0, context.Cause(f.ctx)
		}
	}
	n := copy(p, f.cur)
	f.cur = f.cur[n:]
	return n, nil
}
