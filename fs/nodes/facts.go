package nodes

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// facts remembers what the engine said about boxes, so that the dozens of
// requests a `cp -r` or an `ls -l` makes of one box cost one database query
// each kind, not one each.
//
// It follows its own subscription to the engine's events and takes in
// every event already published before it answers: a change made through
// the engine (by this mount or by the engine itself) is published before
// the call that made it returns, so whoever then asks sees it. Changes made
// by another process come as Refresh events from the engine's watch of the
// home. Anything older than maxAge is asked again, which bounds what an
// event the engine could not deliver leaves stale.
type facts struct {
	rt     *snapshot.Runtime
	events <-chan snapshot.Event
	maxAge time.Duration

	mu        sync.Mutex
	gen       uint64 // counts invalidations: a fill that raced one is not kept
	boxes     map[string]*boxFacts
	byName    map[string]string // box ids by name, as lookups found them
	snapSizes map[snapDisk]int64
}

// boxFacts is what is known of one box.
type boxFacts struct {
	handle   *snapshot.Box
	info     fact[snapshot.BoxInfo]
	settings fact[snapshot.Settings]
	snaps    fact[[]snapshot.SnapshotInfo]
}

// fact is one answer of the engine and when it was given.
type fact[T any] struct {
	v  T
	at time.Time
}

// snapDisk names a disk of a snapshot, whose standalone size never changes.
type snapDisk struct {
	snapID string
	disk   snapshot.Disk
}

// maxSnapSizes bounds the sizes kept; past it they are asked again.
const maxSnapSizes = 4096

func newFacts(rt *snapshot.Runtime, events <-chan snapshot.Event, maxAge time.Duration) *facts {
	return &facts{rt: rt, events: events, maxAge: maxAge, boxes: map[string]*boxFacts{},
		byName: map[string]string{}, snapSizes: map[snapDisk]int64{}}
}

// box is a handle on box id: it names the box by id and reads its current
// state at every call, so it is kept until the box is removed or renamed.
func (f *facts) box(ctx context.Context, id string) (*snapshot.Box, error) {
	f.mu.Lock()
	f.takeEventsLocked()
	if b := f.boxes[id]; b != nil {
		f.mu.Unlock()
		return b.handle, nil
	}
	f.mu.Unlock()
	h, err := f.rt.BoxByID(ctx, id)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.entryLocked(h).handle, nil
}

func (f *facts) entryLocked(h *snapshot.Box) *boxFacts {
	b := f.boxes[h.ID()]
	if b == nil {
		b = &boxFacts{handle: h}
		f.boxes[h.ID()] = b
	}
	return b
}

// info is box.json's content: an error for a box that is gone.
func (f *facts) info(ctx context.Context, id string) (snapshot.BoxInfo, error) {
	return recall(ctx, f, id, func(b *boxFacts) *fact[snapshot.BoxInfo] { return &b.info },
		func(ctx context.Context, h *snapshot.Box) (snapshot.BoxInfo, error) { return h.Info(ctx) })
}

// settings are the box's persisted options.
func (f *facts) settings(ctx context.Context, id string) (snapshot.Settings, error) {
	return recall(ctx, f, id, func(b *boxFacts) *fact[snapshot.Settings] { return &b.settings },
		func(ctx context.Context, h *snapshot.Box) (snapshot.Settings, error) { return h.Settings(ctx) })
}

// snapshots lists the box's snapshots, oldest first.
func (f *facts) snapshots(ctx context.Context, id string) ([]snapshot.SnapshotInfo, error) {
	return recall(ctx, f, id, func(b *boxFacts) *fact[[]snapshot.SnapshotInfo] { return &b.snaps },
		func(ctx context.Context, h *snapshot.Box) ([]snapshot.SnapshotInfo, error) {
			return h.Snapshots().List(ctx)
		})
}

// snapshot finds one of the box's snapshots by what match says.
func (f *facts) snapshot(ctx context.Context, boxID string, match func(snapshot.SnapshotInfo) bool, what string) (snapshot.SnapshotInfo, error) {
	list, err := f.snapshots(ctx, boxID)
	if err != nil {
		return snapshot.SnapshotInfo{}, err
	}
	for _, s := range list {
		if match(s) {
			return s, nil
		}
	}
	return snapshot.SnapshotInfo{}, fmt.Errorf("snapshot %s: %w", what, errdefs.ErrNotFound)
}

// recall gives the fact that field selects, asking the engine with ask
// when it is not known or too old.
func recall[T any](ctx context.Context, f *facts, id string, field func(*boxFacts) *fact[T], ask func(context.Context, *snapshot.Box) (T, error)) (T, error) {
	var zero T
	h, err := f.box(ctx, id)
	if err != nil {
		return zero, err
	}
	f.mu.Lock()
	gen := f.gen
	if b := f.boxes[id]; b != nil {
		if fa := field(b); !fa.at.IsZero() && time.Since(fa.at) < f.maxAge {
			f.mu.Unlock()
			return fa.v, nil
		}
	}
	f.mu.Unlock()
	at := time.Now()
	v, err := ask(ctx, h)
	if err != nil {
		return zero, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gen == gen {
		*field(f.entryLocked(h)) = fact[T]{v: v, at: at}
	}
	return v, nil
}

// boxNamed describes the box called name.
func (f *facts) boxNamed(ctx context.Context, name string) (snapshot.BoxInfo, error) {
	f.mu.Lock()
	f.takeEventsLocked()
	id, ok := f.byName[name]
	gen := f.gen
	f.mu.Unlock()
	if ok {
		if info, err := f.info(ctx, id); err == nil && info.Name == name {
			return info, nil
		}
	}
	h, err := f.rt.Box(ctx, name)
	if err != nil {
		return snapshot.BoxInfo{}, err
	}
	info, err := f.info(ctx, h.ID())
	if err != nil {
		return snapshot.BoxInfo{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gen == gen && info.Name == name {
		f.byName[name] = info.ID
	}
	return info, nil
}

// snapshotDiskSize is the standalone size of a snapshot's disk: frozen, so
// asked once.
func (f *facts) snapshotDiskSize(ctx context.Context, box *snapshot.Box, snap snapshot.SnapshotInfo, d snapshot.Disk) (int64, error) {
	key := snapDisk{snapID: snap.ID, disk: d}
	f.mu.Lock()
	size, ok := f.snapSizes[key]
	f.mu.Unlock()
	if ok {
		return size, nil
	}
	size, err := box.Snapshots().DiskSize(ctx, snap.Name, d)
	if err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.snapSizes) >= maxSnapSizes {
		clear(f.snapSizes)
	}
	f.snapSizes[key] = size
	return size, nil
}

// takeEventsLocked applies the events published so far. A full channel
// may have lost some (the engine never waits for a subscriber): then
// nothing known is trusted.
func (f *facts) takeEventsLocked() {
	if len(f.events) == cap(f.events) {
		f.forgetAllLocked()
	}
	for {
		select {
		case ev, ok := <-f.events:
			if !ok {
				f.forgetAllLocked()
				return
			}
			f.applyLocked(ev)
		default:
			return
		}
	}
}

func (f *facts) applyLocked(ev snapshot.Event) {
	f.gen++
	switch ev.Kind {
	case snapshot.BoxesChanged: // created, removed, renamed, or a name reserved
		clear(f.byName)
		delete(f.boxes, ev.BoxID)
	case snapshot.BoxChanged:
		if b := f.boxes[ev.BoxID]; b != nil {
			b.info, b.settings = fact[snapshot.BoxInfo]{}, fact[snapshot.Settings]{}
		}
	case snapshot.SnapshotsChanged: // and the box's state, which a snapshot takes
		if b := f.boxes[ev.BoxID]; b != nil {
			b.info, b.snaps = fact[snapshot.BoxInfo]{}, fact[[]snapshot.SnapshotInfo]{}
		}
	default: // Refresh: another process changed the home
		f.forgetAllLocked()
	}
}

func (f *facts) forgetAllLocked() {
	f.gen++
	clear(f.boxes)
	clear(f.byName)
}
