package nodes

import (
	"context"

	"github.com/hanwen/go-fuse/v2/fs"

	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// invalidate keeps the kernel's caches true (SPEC 2): it follows the
// engine's events and drops the dentries and attributes they make stale,
// until ctx ends or the engine closes. Notifications run here, never inside
// a request, since the kernel may hold the locks of the request that caused
// the event.
func (r *root) invalidate(ctx context.Context, events <-chan snapshot.Event) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			r.apply(ev)
		}
	}
}

func (r *root) apply(ev snapshot.Event) {
	switch ev.Kind {
	case snapshot.BoxesChanged:
		notifyEntries(r.boxes.EmbeddedInode())
	case snapshot.BoxChanged:
		if d := r.boxDir(ev.BoxID); d != nil {
			notifyAttrs(d.EmbeddedInode())
		}
	case snapshot.SnapshotsChanged:
		if d := r.boxDir(ev.BoxID); d != nil {
			if s := d.GetChild("snapshots"); s != nil {
				notifyEntries(s)
			}
			notifyAttrs(d.EmbeddedInode())
		}
	default: // Refresh: another process changed the home; anything may be stale
		notifyEntries(r.boxes.EmbeddedInode())
		for _, ch := range r.boxes.Children() {
			notifyAttrs(ch)
			if s := ch.GetChild("snapshots"); s != nil {
				notifyEntries(s)
			}
		}
	}
}

// boxDir finds the directory inode the kernel knows for a box id, if any.
func (r *root) boxDir(id string) *boxDir {
	for _, ch := range r.boxes.Children() {
		if d, ok := ch.Operations().(*boxDir); ok && d.id == id {
			return d
		}
	}
	return nil
}

// notifyEntries drops the kernel's dentries under dir, so that the next
// access looks each name up again.
func notifyEntries(dir *fs.Inode) {
	for name := range dir.Children() {
		dir.NotifyEntry(name)
	}
}

// notifyAttrs drops the cached attributes of every inode below dir (sizes
// of disks, state, settings): an offset of -1 leaves data caches alone,
// which generated files do not use.
func notifyAttrs(dir *fs.Inode) {
	for _, ch := range dir.Children() {
		ch.NotifyContent(-1, 0)
		if ch.IsDir() {
			notifyAttrs(ch)
		}
	}
}
