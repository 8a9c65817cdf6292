package snapshot

import (
	"fmt"
	"sync"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// boxRegistry holds what the engine knows about boxes in memory only: their
// running VMs, exports in progress, and the short lock that serializes
// freezing a box's active layers between concurrent clones.
type boxRegistry struct {
	mu       sync.Mutex
	entries  map[string]*boxEntry // by box id
	reserved map[string]bool      // names reserved by clone targets
}

type boxEntry struct {
	freeze sync.Mutex // held while the active layers are frozen and replaced
	// snapshotting: a snapshot holds or waits for freeze (guarded by the
	// registry's mu).
	snapshotting bool
	vm           Instance // nil when not running in this process
	exports      int      // exports streaming now
	// starting: a VM is booting on the active files (under freeze).
	starting bool
	// activeReaders counts readers holding the active files of the stopped
	// box as its point-in-time state.
	activeReaders int
}

// beginSnapshot takes the box's freeze lock for a snapshot. A second
// snapshot of the box meanwhile is refused at once (SPEC 2.6) instead of
// queueing behind the first one's quiesce; a clone's freeze, which is short
// and often finds nothing to do, is waited for. end releases the lock.
func (r *boxRegistry) beginSnapshot(id, snapshot string) (end func(), err error) {
	e := r.entry(id)
	r.mu.Lock()
	if e.snapshotting {
		r.mu.Unlock()
		return nil, fmt.Errorf("snapshot %q: the box is being snapshotted: %w", snapshot, errdefs.ErrBusy)
	}
	e.snapshotting = true
	r.mu.Unlock()
	e.freeze.Lock()
	return func() {
		e.freeze.Unlock()
		r.mu.Lock()
		e.snapshotting = false
		r.mu.Unlock()
	}, nil
}

func newBoxRegistry() *boxRegistry {
	return &boxRegistry{entries: map[string]*boxEntry{}, reserved: map[string]bool{}}
}

func (r *boxRegistry) entry(id string) *boxEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[id]
	if !ok {
		e = &boxEntry{}
		r.entries[id] = e
	}
	return e
}

func (r *boxRegistry) vm(id string) Instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.entries[id]; ok {
		return e.vm
	}
	return nil
}

func (r *boxRegistry) setVM(id string, vm Instance) {
	e := r.entry(id)
	r.mu.Lock()
	e.vm = vm
	r.mu.Unlock()
}

// readActive registers a reader of the box's active files, unless a VM runs
// or boots on them: then it returns false and the reader must capture the
// disks instead.
func (r *boxRegistry) readActive(id string) bool {
	e := r.entry(id)
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.vm != nil || e.starting {
		return false
	}
	e.activeReaders++
	return true
}

func (r *boxRegistry) doneActive(id string) {
	e := r.entry(id)
	r.mu.Lock()
	e.activeReaders--
	r.mu.Unlock()
}

// beginStart marks the box as booting, from which point no reader takes its
// active files, and tells whether readers hold them already.
func (r *boxRegistry) beginStart(id string) (read bool) {
	e := r.entry(id)
	r.mu.Lock()
	defer r.mu.Unlock()
	e.starting = true
	return e.activeReaders > 0
}

func (r *boxRegistry) endStart(id string) {
	e := r.entry(id)
	r.mu.Lock()
	e.starting = false
	r.mu.Unlock()
}

// inVM lists the boxes a VM of this process runs or boots on.
func (r *boxRegistry) inVM() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for id, e := range r.entries {
		if e.vm != nil || e.starting {
			out = append(out, id)
		}
	}
	return out
}

func (r *boxRegistry) vms() map[string]Instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]Instance{}
	for id, e := range r.entries {
		if e.vm != nil {
			out[id] = e.vm
		}
	}
	return out
}

func (r *boxRegistry) exporting(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[id]
	return ok && e.exports > 0
}

func (r *boxRegistry) addExport(id string, delta int) {
	e := r.entry(id)
	r.mu.Lock()
	e.exports += delta
	r.mu.Unlock()
}

// reserve claims a name for a box being made by a clone target.
func (r *boxRegistry) reserve(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reserved[name] {
		return fmt.Errorf("%q is being made: %w", name, errdefs.ErrExists)
	}
	r.reserved[name] = true
	return nil
}

func (r *boxRegistry) release(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.reserved, name)
}

func (r *boxRegistry) isReserved(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reserved[name]
}
