package boxsnap

import (
	"context"
	"errors"
	"sync"
)

var errAborted = errors.New("boxsnap: import aborted")

// Importer verifies an archive that arrives as a sequence of writes, as
// when a file is copied into the filesystem. A bad archive is reported by
// the Write that reveals it (bad magic or member name, an oversized member,
// a checksum mismatch at the end of a disk when the manifest came first) or,
// for what only the end can tell (truncation, a missing member), by Close.
// Every failure removes what was staged.
//
// Call Close or Abort exactly once when done; either ends the decoding
// goroutine. Abort may be called at any time, from any goroutine.
type Importer struct {
	feed   *feed
	cancel context.CancelCauseFunc
	done   chan struct{} // closed when the decoding goroutine has returned

	// Written by the decoding goroutine, read only after done is closed.
	res *Result
	err error

	mu     sync.Mutex // serialises Write and Close
	closed bool
}

// NewImporter starts an import that stages its disks in dir. ctx bounds the
// whole import, not a single Write.
func NewImporter(ctx context.Context, dir string, opts ReadOptions) (*Importer, error) {
	x, err := newExtractor(dir, opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	imp := &Importer{feed: newFeed(ctx), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(imp.done)
		imp.res, imp.err = x.run(ctx, imp.feed)
	}()
	return imp, nil
}

// Write feeds the next bytes of the archive and returns once they are
// processed: an error means the archive is refused (or the import failed
// locally) and nothing is left staged.
func (imp *Importer) Write(p []byte) (int, error) {
	imp.mu.Lock()
	defer imp.mu.Unlock()
	if imp.closed {
		return 0, invalid("write after close")
	}
	if len(p) == 0 {
		return 0, imp.failure()
	}
	select {
	case imp.feed.chunks <- p:
	case <-imp.done:
		return 0, imp.failure()
	}
	select {
	case <-imp.feed.consumed:
		return len(p), nil
	case <-imp.done:
		return 0, imp.failure()
	}
}

// failure is the import's error once it has ended, nil while it runs.
func (imp *Importer) failure() error {
	select {
	case <-imp.done:
		if imp.err == nil {
			return invalid("import already complete")
		}
		return imp.err
	default:
		return nil
	}
}

// Close marks the end of the archive, waits for the final checks and returns
// the verified result. The staged files then belong to the caller.
func (imp *Importer) Close() (*Result, error) {
	imp.mu.Lock()
	defer imp.mu.Unlock()
	if !imp.closed {
		imp.closed = true
		close(imp.feed.chunks)
	}
	<-imp.done
	imp.cancel(nil)
	return imp.res, imp.err
}

// Abort stops the import and removes what it staged. After a successful
// Close it does nothing: the files are the caller's.
func (imp *Importer) Abort() {
	imp.cancel(errAborted)
	<-imp.done
}
