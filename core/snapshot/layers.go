package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/qcow2"
	"github.com/boxlite-ai/boxlitefs/metadata"
)

// Frozen layers are immutable files in bases/. The database says who holds
// each one (a box's disk, a snapshot, a base image, or a layer above it);
// open readers hold them in memory (pins). A layer nothing holds is deleted.

// layerSet is the in-memory side: pins, and the gate that makes "find the
// dead layers and delete them" (or merge them) atomic against "look up
// layers and pin them". Lookups share the gate, so readers and clones
// never wait for each other; the collector and a merge's switch take it
// alone.
type layerSet struct {
	gate sync.RWMutex

	pinMu sync.Mutex
	pins  map[string]int
	// heldDead: the last collection left dead layers that pins held, so
	// an unpin may free them.
	heldDead bool

	freshMu sync.Mutex
	fresh   map[int64]freshOverlay // by inode: empty overlays this process made
}

// freshOverlay identifies an empty overlay as made: a file with its inode
// whose size and modification time are still the same was not written
// since (a rename into place keeps both).
type freshOverlay struct {
	size    int64
	mtime   time.Time
	virtual int64
}

// maxFresh bounds the memory of made overlays; forgetting one only costs a
// parse of its tables.
const maxFresh = 4096

func newLayerSet() *layerSet {
	return &layerSet{pins: map[string]int{}, fresh: map[int64]freshOverlay{}}
}

func (s *layerSet) noteFresh(path string, virtual int64) {
	st, err := os.Stat(path)
	if err != nil {
		return
	}
	s.freshMu.Lock()
	defer s.freshMu.Unlock()
	if len(s.fresh) >= maxFresh {
		clear(s.fresh)
	}
	s.fresh[inode(st)] = freshOverlay{size: st.Size(), mtime: st.ModTime(), virtual: virtual}
}

// isFresh reports whether path is still an empty overlay this process made,
// and its virtual size.
func (s *layerSet) isFresh(path string) (int64, bool) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	s.freshMu.Lock()
	defer s.freshMu.Unlock()
	f, ok := s.fresh[inode(st)]
	if !ok {
		return 0, false
	}
	if st.Size() != f.size || !st.ModTime().Equal(f.mtime) {
		delete(s.fresh, inode(st))
		return 0, false
	}
	return f.virtual, true
}

func inode(st os.FileInfo) int64 {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return int64(sys.Ino)
	}
	return -1
}

// pinned runs lookup inside the gate (shared with other lookups, never with
// a collection) and pins the layer ids it returns, so that no collection
// can delete them until unpin.
func (rt *Runtime) pinned(ctx context.Context, lookup func(tx *metadata.Tx) ([]string, error)) ([]string, error) {
	rt.layers.gate.RLock()
	defer rt.layers.gate.RUnlock()
	var ids []string
	err := rt.db.View(ctx, func(tx *metadata.Tx) error {
		var err error
		ids, err = lookup(tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	rt.layers.pin(ids...)
	return ids, nil
}

// pin holds layers for a reader. Taking the gate is the caller's business:
// a layer found in the database must be pinned before the gate opens.
func (s *layerSet) pin(ids ...string) {
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	for _, id := range ids {
		if id != "" {
			s.pins[id]++
		}
	}
}

func (s *layerSet) anyPinned() bool {
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	return len(s.pins) > 0
}

// unpin releases pins and collects layers that only the pins held.
func (rt *Runtime) unpin(ids []string) {
	rt.layers.pinMu.Lock()
	for _, id := range ids {
		if id == "" {
			continue
		}
		if rt.layers.pins[id]--; rt.layers.pins[id] <= 0 {
			delete(rt.layers.pins, id)
		}
	}
	pending := rt.layers.heldDead
	rt.layers.pinMu.Unlock()
	if !pending {
		return // the last collection deleted everything it could
	}
	if err := rt.collect(context.Background()); err != nil {
		rt.log.Error("collect layers", "err", err)
	}
}

// collect deletes every layer nothing holds: rows first (children before
// parents, in one transaction), then files. A crash in between leaves files
// without rows, which recovery removes.
func (rt *Runtime) collect(ctx context.Context) error {
	rt.kickCompactor() // whatever a holder let go of may now merge
	rt.layers.gate.Lock()
	defer rt.layers.gate.Unlock()
	// Most calls find nothing to do: look first without a write transaction.
	var any bool
	if err := rt.db.View(ctx, func(tx *metadata.Tx) error {
		dead, err := tx.DeadLayers(ctx)
		// Under pinMu throughout: an unpin either comes before (its layer
		// is free now) or sees heldDead and collects again.
		rt.layers.pinMu.Lock()
		defer rt.layers.pinMu.Unlock()
		held := heldBy(rt.layers.pins, dead)
		rt.layers.heldDead = false
		for _, l := range dead {
			any = any || !held[l.ID]
			rt.layers.heldDead = rt.layers.heldDead || held[l.ID]
		}
		return err
	}); err != nil || !any {
		return err
	}
	var gone []string
	err := rt.db.Update(ctx, func(tx *metadata.Tx) error {
		gone = gone[:0]
		dead, err := tx.DeadLayers(ctx)
		if err != nil {
			return err
		}
		held := rt.heldByPins(dead)
		for _, l := range dead {
			if held[l.ID] {
				continue
			}
			if err := tx.DeleteLayer(ctx, l.ID); err != nil {
				return err
			}
			gone = append(gone, l.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range gone {
		if err := os.Remove(rt.lay.layer(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			rt.log.Error("remove layer", "layer", id, "err", err)
		}
		rt.log.Debug("layer deleted", "layer", id)
	}
	return nil
}

// heldByPins tells which of the dead layers (children first, as
// DeadLayers lists them) open readers still hold: the pinned ones and their
// ancestors. The caller holds the gate, so no new pin can come from them.
func (rt *Runtime) heldByPins(dead []metadata.Layer) map[string]bool {
	rt.layers.pinMu.Lock()
	defer rt.layers.pinMu.Unlock()
	return heldBy(rt.layers.pins, dead)
}

// heldBy is heldByPins for a given set of pins; the caller holds pinMu.
func heldBy(pins map[string]int, dead []metadata.Layer) map[string]bool {
	held := map[string]bool{}
	for id := range pins {
		held[id] = true
	}
	for _, l := range dead { // children first: a held child marks its parent before the parent is seen
		if held[l.ID] && l.ParentID != "" {
			held[l.ParentID] = true
		}
	}
	return held
}

// eachDisk runs fn for both disks at once: their files are independent, and
// file creation waits on the filesystem more than on the CPU.
func eachDisk(fn func(d Disk) error) error {
	disks := AllDisks()
	errs := make([]error, len(disks))
	var wg sync.WaitGroup
	for i, d := range disks {
		wg.Go(func() { errs[i] = fn(d) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// createOverlay makes an empty qcow2 at path on top of layer base (none when
// base is ""), with the given virtual size.
func (rt *Runtime) createOverlay(path, base string, size int64) error {
	if err := rt.writeOverlay(path, base, size); err != nil {
		return err
	}
	rt.layers.noteFresh(path, size)
	return nil
}

func (rt *Runtime) writeOverlay(path, base string, size int64) error {
	// Not synced: an empty overlay is a function of its base and size, and
	// recovery makes it again if a power failure loses it (heal.go).
	opts := qcow2.CreateOptions{NoSync: true}
	if base != "" {
		opts.BackingFile = backingName(base)
		opts.BackingFormat = qcow2.FormatQcow2
	}
	if err := qcow2.Create(path, size, opts); err != nil {
		return fmt.Errorf("create overlay: %w", err)
	}
	return nil
}

// linkLayer gives an existing file (an active layer being frozen, or a
// staged image) its frozen name bases/{xx}/{id}.qcow2.
func (rt *Runtime) linkLayer(src, id string) error {
	if err := os.MkdirAll(rt.lay.layerDir(id), 0o755); err != nil {
		return err
	}
	if err := os.Link(src, rt.lay.layer(id)); err != nil {
		return fmt.Errorf("freeze layer: %w", err)
	}
	return nil
}

// openPolicy lets the qcow2 reader follow backing files inside the home only.
func (rt *Runtime) openPolicy() qcow2.OpenOptions {
	return qcow2.OpenOptions{AllowBacking: qcow2.AllowUnder(rt.home)}
}

// activeShape is diskShape for an active file, answered from memory when
// the file is an overlay this process made and nothing changed it since
// (the common case for clones and snapshots in a row).
func (rt *Runtime) activeShape(path string) (size int64, empty bool, err error) {
	if size, ok := rt.layers.isFresh(path); ok {
		return size, true, nil
	}
	return diskShape(path)
}

// diskShape reads what the engine needs to know about an active file: its
// virtual size, and whether anything was written to it since it was made.
// Its header is checked (a crashed VM leaves it dirty), not its tables: the
// writer is QEMU, and every later read validates what it follows.
func diskShape(path string) (size int64, empty bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, false, err
	}
	size, allocated, err := qcow2.Peek(f, st.Size())
	if err != nil {
		return 0, false, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return size, !allocated, nil
}
