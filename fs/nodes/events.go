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
//
// A dentry is dropped only when its name no longer leads to the same box or
// snapshot, so that one mutation does not make the kernel look every cached
// path up again.
func (r *root) invalidate(ctx context.Context, events <-chan snapshot.Event) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			// A burst (a cp -r into clones/ publishes a dozen events) is
			// applied once: each names event lists every box.
			c := changes{}
			c.add(ev)
			open := c.drain(events)
			r.apply(ctx, c)
			if !open {
				return
			}
		}
	}
}

// changes is a batch of events, reduced to what they ask for.
type changes struct {
	names bool            // boxes were created, removed or renamed
	all   bool            // another process changed the home: anything may be stale
	boxes map[string]bool // boxes whose state, settings or disks changed
	snaps map[string]bool // boxes whose snapshots changed
}

func (c *changes) add(ev snapshot.Event) {
	switch ev.Kind {
	case snapshot.BoxesChanged:
		c.names = true
	case snapshot.BoxChanged:
		c.boxes = addTo(c.boxes, ev.BoxID)
	case snapshot.SnapshotsChanged:
		c.snaps = addTo(c.snaps, ev.BoxID)
	default: // Refresh
		c.names, c.all = true, true
	}
}

// drain adds the events already queued; false when the channel closed.
func (c *changes) drain(events <-chan snapshot.Event) bool {
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return false
			}
			c.add(ev)
		default:
			return true
		}
	}
}

func addTo(set map[string]bool, id string) map[string]bool {
	if set == nil {
		set = map[string]bool{}
	}
	set[id] = true
	return set
}

func (r *root) apply(ctx context.Context, c changes) {
	if c.names {
		r.syncNames(ctx)
	}
	for _, d := range r.boxDirs("") {
		snaps, changed := c.all || c.snaps[d.id], c.all || c.snaps[d.id] || c.boxes[d.id]
		if snaps {
			syncSnapshots(ctx, d)
		}
		if changed {
			notifyAttrs(d.EmbeddedInode())
		}
	}
}

// syncNames follows the boxes' names in boxes/ and clones/.
func (r *root) syncNames(ctx context.Context) {
	boxes, err := r.env.rt.ListBoxes(ctx)
	if err != nil {
		return
	}
	ids := make(map[string]string, len(boxes))
	for _, b := range boxes {
		ids[b.Name] = b.ID
	}
	r.syncBoxes(ids)
	r.clones.sync(ctx, ids)
}

// syncBoxes drops the dentries of boxes/ whose name now names another box
// (ids: box ids by name) or none.
func (r *root) syncBoxes(ids map[string]string) {
	dir := r.boxes.EmbeddedInode()
	for name, ch := range dir.Children() {
		if d, ok := ch.Operations().(*boxDir); !ok || ids[name] != d.id {
			dir.NotifyEntry(name)
		}
	}
}

// syncSnapshots drops the dentries of a box's snapshots/ whose name now
// names another snapshot or none.
func syncSnapshots(ctx context.Context, d *boxDir) {
	ch := d.GetChild("snapshots")
	if ch == nil {
		return
	}
	list, err := d.env.facts.snapshots(ctx, d.id)
	if err != nil {
		return
	}
	ids := make(map[string]string, len(list))
	for _, s := range list {
		ids[s.Name] = s.ID
	}
	for name, snap := range ch.Children() {
		if s, ok := snap.Operations().(*snapshotDir); !ok || ids[name] != s.ref.snapID {
			ch.NotifyEntry(name)
		}
	}
}

// boxDirs finds the directory inodes the kernel knows for a box id, in
// boxes/ and in clones/; every box's for "".
func (r *root) boxDirs(id string) []*boxDir {
	var out []*boxDir
	for _, dir := range []*fs.Inode{r.boxes.EmbeddedInode(), r.clones.EmbeddedInode()} {
		for _, ch := range dir.Children() {
			if d, ok := ch.Operations().(*boxDir); ok && (id == "" || d.id == id) {
				out = append(out, d)
			}
		}
	}
	return out
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
