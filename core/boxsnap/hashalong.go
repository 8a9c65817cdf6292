package boxsnap

import (
	"hash"
	"sync"
)

// hashInlineBelow is zstd's largest block: a smaller write seldom starts the
// compression of one, so hashing it alongside would overlap nothing.
const hashInlineBelow = 128 << 10

// hashAlongside feeds p to h while work runs, in a goroutine of its own when
// p is large, and returns once both are done; work must only read p.
// sha256 (about 1.4 GB/s) costs as much as the stage it rides along: on
// export the feeding of zstd's match finder, which works one block at a
// time and waits for its feeder; on import the writing of the staged file.
// Done in turn with either, it held the whole stream back.
func hashAlongside(h hash.Hash, p []byte, work func() error) error {
	if len(p) < hashInlineBelow {
		h.Write(p)
		return work()
	}
	var hashed sync.WaitGroup
	hashed.Go(func() { h.Write(p) })
	err := work()
	hashed.Wait()
	return err
}
