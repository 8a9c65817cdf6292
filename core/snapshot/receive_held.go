package snapshot

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"os"
	"slices"

	"github.com/boxlite-ai/boxlitefs/core/qcow2"
)

// A byte copy of a box directory kept outside the mount (cp -r of a copy on
// ext4, whose directories list in hash order) may bring the disks before
// box.json, which names the box they come from. Such a disk is vetted when
// it is closed, so that the copying tool hears a refusal then, and held,
// staged, until box.json or snapshot.json arrives, or the copy settles
// without one: stored against its source it takes only what differs and the
// box is a clone, as when box.json comes first.

// heldDisk is a vetted disk of the copy, staged in tmp/.
type heldDisk struct {
	role   fileRole
	f      *os.File
	size   int64
	format qcow2.Format
}

// drop deletes the staged file.
func (d heldDisk) drop() {
	d.f.Close()
	os.Remove(d.f.Name())
}

// key names the disk's place: a disk of the box or of one of its snapshots.
func (d heldDisk) key() string { return d.role.snapshot + "/" + string(d.role.disk) }

// awaitingSourceLocked says whether a disk closed now must wait: nothing is
// bound and neither box.json nor snapshot.json came.
func (ct *CloneTarget) awaitingSourceLocked() bool {
	return ct.boxID == "" && ct.source == nil && !ct.described
}

// holdLocked keeps a disk until the copy says where it comes from; a disk
// written again replaces the one held for its place.
func (ct *CloneTarget) holdLocked(d heldDisk) {
	if ct.held == nil {
		ct.held = map[string]heldDisk{}
	}
	if old, ok := ct.held[d.key()]; ok {
		old.drop()
	}
	ct.held[d.key()] = d
}

// describedLocked records that box.json or snapshot.json came (whether or
// not it named a box that exists) and stores what was held for it.
func (ct *CloneTarget) describedLocked(ctx context.Context) error {
	ct.described = true
	return ct.storeHeldLocked(ctx)
}

// Settle is called once the copy is over: disks still held were copied
// without box.json, and are stored as they are, in a box of their own.
func (ct *CloneTarget) Settle(ctx context.Context) error {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	if ct.dropped || len(ct.held) == 0 {
		return nil
	}
	return ct.describedLocked(ctx)
}

// storeHeldLocked stores the held disks: the box's own first, since a
// snapshot's disks would bind an unbound box to its source's current state
// before the box's own disks say what that state holds.
func (ct *CloneTarget) storeHeldLocked(ctx context.Context) error {
	held := slices.SortedFunc(maps.Values(ct.held), func(a, b heldDisk) int {
		if (a.role.snapshot == "") != (b.role.snapshot == "") {
			if a.role.snapshot == "" {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.key(), b.key())
	})
	ct.held = nil
	var errs []error
	for _, d := range held {
		errs = append(errs, ct.storeStagedLocked(ctx, d))
		d.drop()
	}
	return errors.Join(errs...)
}

// dropHeldLocked deletes what is held (the copy was removed or forgotten).
func (ct *CloneTarget) dropHeldLocked() {
	for _, d := range ct.held {
		d.drop()
	}
	ct.held = nil
}
