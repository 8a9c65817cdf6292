package snapshot

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/boxlite-ai/boxlitefs/core/qcow2"
	"github.com/boxlite-ai/boxlitefs/metadata"
)

// Files a mutation makes that hold no data — box directories and their
// bases link, empty overlays, snapshot directories and their hard links —
// are not synced (see syncCreated): each is a function of the database. If
// a power failure loses one, or leaves an active path naming the frozen
// layer it was renamed away from, heal makes it again from the rows.

// heal checks every box's regenerable files and, with repair, remakes the
// wrong ones. Boxes running in this process are left alone.
func (rt *Runtime) heal(ctx context.Context, repair bool) ([]Problem, error) {
	type boxRows struct {
		box   metadata.Box
		disks map[string]string
		snaps []metadata.Snapshot
	}
	var all []boxRows
	sizes := map[string]int64{}
	err := rt.db.View(ctx, func(tx *metadata.Tx) error {
		boxes, err := tx.Boxes(ctx)
		if err != nil {
			return err
		}
		for _, b := range boxes {
			row := boxRows{box: b}
			if row.disks, err = tx.BoxDisks(ctx, b.ID); err != nil {
				return err
			}
			if row.snaps, err = tx.Snapshots(ctx, b.ID); err != nil {
				return err
			}
			all = append(all, row)
		}
		layers, err := tx.Layers(ctx)
		for _, l := range layers {
			sizes[l.ID] = l.VirtualSize
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	r := &FsckReport{}
	for _, row := range all {
		id := row.box.ID
		if rt.boxes.vm(id) != nil {
			continue
		}
		if _, err := os.Stat(rt.lay.box(id)); err != nil {
			p := Problem{Path: rt.lay.rel(rt.lay.box(id)), What: "box directory missing"}
			if repair {
				p.Repaired = os.MkdirAll(rt.lay.box(id), 0o755) == nil
			}
			r.Problems = append(r.Problems, p)
		}
		rt.checkBasesLink(r, id, repair)
		for _, d := range AllDisks() {
			base := row.disks[string(d)]
			active := rt.lay.active(id, d)
			why := rt.activeProblem(active, base)
			if why == "" {
				continue
			}
			p := Problem{Path: rt.lay.rel(active), What: why}
			if repair && base != "" {
				p.Repaired = rt.remakeActive(active, base, sizes[base]) == nil
				p.What += "; made again as an empty overlay of its base (nothing after the last freeze was durable)"
			}
			r.Problems = append(r.Problems, p)
		}
		for _, s := range row.snaps {
			for _, d := range AllDisks() {
				rt.checkLink(r, rt.lay.snapshotFile(id, s.Name, d), s.Layers[string(d)], repair)
			}
		}
	}
	return r.Problems, nil
}

// activeProblem says what is wrong with an active file, "" if nothing.
func (rt *Runtime) activeProblem(path, base string) string {
	st, err := os.Stat(path)
	if err != nil {
		return "active disk missing"
	}
	if base != "" {
		if lst, err := os.Stat(rt.lay.layer(base)); err == nil && os.SameFile(st, lst) {
			return "active disk is its own frozen layer"
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	head := make([]byte, 64<<10)
	n, err := f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return err.Error()
	}
	h, err := qcow2.ParseHeader(head[:n])
	if err != nil {
		return "active disk unreadable: " + err.Error()
	}
	want := ""
	if base != "" {
		want = backingName(base)
	}
	if h.BackingFile != want {
		return fmt.Sprintf("active disk backs onto %q, the database says %q", h.BackingFile, want)
	}
	// A small file may be a torn empty overlay; a large one was written, and
	// synced, by a VM after it was made.
	if st.Size() <= 1<<20 {
		if _, err := qcow2.Inspect(f, st.Size()); err != nil {
			return "active disk: " + err.Error()
		}
	}
	return ""
}

// remakeActive replaces an active file by an empty overlay of its base.
func (rt *Runtime) remakeActive(active, base string, size int64) error {
	tmp := staging(active, "heal")
	_ = os.Remove(tmp)
	if err := rt.createOverlay(tmp, base, size); err != nil {
		return err
	}
	return os.Rename(tmp, active)
}
