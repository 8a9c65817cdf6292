package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/qcow2"
	"github.com/boxlite-ai/boxlitefs/metadata"
)

// Chains only grow by themselves: every snapshot, and every capture of a
// running box, adds a layer, and removing a snapshot leaves its layer in
// the chain of the states built on it. Compact merges each layer that
// nothing holds but its only child into that child, so chains stay as
// deep as the snapshots that exist.
//
// A merge writes the child again as one overlay of the two (qcow2 Top(2)),
// backing onto the lower layer's parent, and renames it over the child's
// file: every file that names the child as its backing file sees the same
// content through a shorter chain, and no header anywhere is rewritten.
// Readers that opened the old files keep them. Snapshot directories'
// hard links move to the new file.

// errMergeLater says a merge was dropped because readers were opening
// chains at the time; it is tried again later.
var errMergeLater = errors.New("readers are opening chains; merge later")

// Compact merges every layer that can be merged and reports how many.
func (rt *Runtime) Compact(ctx context.Context) (int, error) {
	rt.compactMu.Lock() // one pass at a time; fsck waits for it too
	defer rt.compactMu.Unlock()
	merged := 0
	tried := map[string]bool{}
	for {
		var merges []metadata.Merge
		busy := map[string]bool{}
		if err := rt.db.View(ctx, func(tx *metadata.Tx) error {
			var err error
			if merges, err = tx.Merges(ctx); err != nil {
				return err
			}
			return rt.runningChains(ctx, tx, busy)
		}); err != nil {
			return merged, err
		}
		var next *metadata.Merge
		for i := range merges {
			if busy[merges[i].Upper.ID] {
				continue // a running VM has this chain open; merge after it stops
			}
			if !tried[merges[i].Lower.ID] {
				next = &merges[i]
				break
			}
		}
		if next == nil {
			return merged, nil
		}
		tried[next.Lower.ID] = true
		switch err := rt.merge(ctx, *next); {
		case errors.Is(err, errMergeLater):
			return merged, nil
		case err != nil:
			return merged, fmt.Errorf("merge layer %s into %s: %w", next.Lower.ID, next.Upper.ID, err)
		}
		merged++
	}
}

// merge makes m.Upper's file hold m.Lower's data too and drops m.Lower.
func (rt *Runtime) merge(ctx context.Context, m metadata.Merge) error {
	lower, upper := m.Lower, m.Upper
	upperPath := rt.lay.layer(upper.ID)
	tx0 := newID()[:16]
	staged := staging(upperPath, tx0)

	// The expensive part, outside any lock: the new file.
	img, err := qcow2.Open(upperPath, rt.openPolicy())
	if err != nil {
		return err
	}
	opts := qcow2.FlattenOptions{}
	if lower.ParentID != "" {
		opts.BackingFile, opts.BackingFormat = backingName(lower.ParentID), qcow2.FormatQcow2
	}
	err = qcow2.WriteFile(ctx, staged, img.Top(2), opts)
	img.Close()
	if err != nil {
		return err
	}
	st, err := os.Stat(staged)
	if err == nil {
		err = os.Chmod(staged, 0o444)
	}
	if err != nil {
		os.Remove(staged)
		return err
	}

	// The switch, under the lock readers take to look up and pin layers: no
	// reader is between finding a layer and opening its chain.
	rt.layers.gate.Lock()
	defer rt.layers.gate.Unlock()
	if rt.layers.anyPinned() {
		os.Remove(staged)
		return errMergeLater
	}
	var links []rename
	if err := rt.db.View(ctx, func(tx *metadata.Tx) error {
		var err error
		links, err = rt.linksOf(ctx, tx, upper.ID)
		return err
	}); err != nil {
		os.Remove(staged)
		return err
	}
	// The lower layer's file outlives its row for a while (removeLater): a
	// process that read the upper file's old header just before the rename
	// (a VM booting, qemu-img) still finds the backing file it names.
	p := plan{
		Created: []string{rt.lay.rel(staged)},
		Renames: []rename{{From: rt.lay.rel(staged), To: rt.lay.rel(upperPath)}},
		Relinks: links,
	}
	defer rt.compactor.removeLater(rt.lay.layer(lower.ID))
	return rt.mutate(ctx, "layer.merge", p, nil, nil, func(tx *metadata.Tx) error {
		// Still mergeable: nothing took hold of the lower layer meanwhile.
		merges, err := tx.Merges(ctx)
		if err != nil {
			return err
		}
		ok := false
		for _, x := range merges {
			ok = ok || (x.Lower.ID == lower.ID && x.Upper.ID == upper.ID)
		}
		if !ok {
			return errMergeLater
		}
		if err := tx.Rebase(ctx, upper.ID, lower.ParentID, st.Size()); err != nil {
			return err
		}
		return tx.DeleteLayer(ctx, lower.ID)
	})
}

// runningChains adds to busy every layer in the chains of boxes running or
// booting in this process: QEMU holds those files open and may reopen them
// by name.
func (rt *Runtime) runningChains(ctx context.Context, tx *metadata.Tx, busy map[string]bool) error {
	for _, id := range rt.boxes.inVM() {
		disks, err := tx.BoxDisks(ctx, id)
		if err != nil {
			return err
		}
		for _, layer := range disks {
			for layer != "" && !busy[layer] {
				busy[layer] = true
				l, err := tx.Layer(ctx, layer)
				if err != nil {
					return err
				}
				layer = l.ParentID
			}
		}
	}
	return nil
}

// linksOf lists the snapshot-directory hard links of a layer's file.
func (rt *Runtime) linksOf(ctx context.Context, tx *metadata.Tx, layer string) ([]rename, error) {
	links, err := tx.LinksOf(ctx, layer)
	var out []rename
	for _, k := range links {
		out = append(out, rename{From: rt.lay.rel(rt.lay.layer(layer)),
			To: rt.lay.rel(rt.lay.snapshotFile(k.BoxID, k.Snapshot, Disk(k.Disk)))})
	}
	return out, err
}

// compactor merges layers in the background whenever collect may have left
// something to merge, one pass at a time, until the runtime closes.
type compactor struct {
	kick chan struct{}
	done chan struct{}
	stop context.CancelFunc

	mu      sync.Mutex
	pending []string // merged-away files to remove after mergeGrace
}

// mergeGrace is how long a merged-away layer file stays for processes that
// were opening chains through it.
const mergeGrace = 10 * time.Second

// removeLater schedules the removal of a file no row names any more; if the
// process ends first, the next open sweeps it as an orphan.
func (c *compactor) removeLater(path string) {
	c.mu.Lock()
	c.pending = append(c.pending, path)
	c.mu.Unlock()
	time.AfterFunc(mergeGrace, func() { c.removePending(path) })
}

func (c *compactor) removePending(paths ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(paths) == 0 { // all of them
		paths = append(paths, c.pending...)
	}
	for _, p := range paths {
		if i := slices.Index(c.pending, p); i >= 0 {
			c.pending = slices.Delete(c.pending, i, i+1)
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				continue
			}
		}
	}
}

func newCompactor() *compactor {
	return &compactor{kick: make(chan struct{}, 1), done: make(chan struct{})}
}

// startCompactor runs compaction passes in the background when kicked.
func (rt *Runtime) startCompactor() {
	ctx, stop := context.WithCancel(context.Background())
	c := rt.compactor
	c.stop = stop
	go func() {
		defer close(c.done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-c.kick:
			}
			n, err := rt.Compact(ctx)
			if err != nil && ctx.Err() == nil {
				rt.log.Error("compact layers", "err", err)
			}
			if n > 0 {
				rt.log.Info("layers merged", "count", n)
			}
		}
	}()
}

// pendingRemoval tells whether path is a merged-away file waiting for its
// grace period to end (not an orphan).
func (c *compactor) pendingRemoval(path string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Contains(c.pending, path)
}

// kickCompactor asks for a compaction pass without waiting for it.
func (rt *Runtime) kickCompactor() {
	if rt.compactor.stop == nil {
		return // manual compaction
	}
	select {
	case rt.compactor.kick <- struct{}{}:
	default: // a pass is already asked for
	}
}

func (rt *Runtime) stopCompactor() {
	if c := rt.compactor; c.stop != nil {
		c.stop()
		<-c.done
	}
	rt.compactor.removePending()
}
