package snapshot

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/boxlite-ai/boxlitefs/core/qcow2"
	"github.com/boxlite-ai/boxlitefs/metadata"
)

// FsckReport is what Fsck found.
type FsckReport struct {
	Recovered []Problem `json:"recovered"` // what opening the home repaired
	Problems  []Problem `json:"problems"`
	Images    int       `json:"images"` // images checked
}

// Clean reports whether nothing is left unrepaired.
func (r *FsckReport) Clean() bool {
	for _, p := range r.Problems {
		if !p.Repaired {
			return false
		}
	}
	return true
}

// Fsck checks the whole home: every image (no errors, no leaks, the backing
// file its row says), every chain, rows against files, orphans and layers
// nothing holds. With repair it fixes what can be fixed without losing data:
// orphans, dead layers, missing snapshot links, stale statuses.
func (rt *Runtime) Fsck(ctx context.Context, repair bool) (*FsckReport, error) {
	rt.compactMu.Lock() // a merge in flight is not a problem to report
	defer rt.compactMu.Unlock()
	r := &FsckReport{Recovered: rt.recovered}
	problem := func(path, format string, args ...any) {
		r.Problems = append(r.Problems, Problem{Path: path, What: fmt.Sprintf(format, args...)})
	}
	var layers []metadata.Layer
	var boxes []metadata.Box
	snaps := map[string][]metadata.Snapshot{}
	disks := map[string]map[string]string{}
	var dead []metadata.Layer
	err := rt.db.View(ctx, func(tx *metadata.Tx) error {
		var err error
		if layers, err = tx.Layers(ctx); err != nil {
			return err
		}
		if boxes, err = tx.Boxes(ctx); err != nil {
			return err
		}
		for _, b := range boxes {
			if snaps[b.ID], err = tx.Snapshots(ctx, b.ID); err != nil {
				return err
			}
			if disks[b.ID], err = tx.BoxDisks(ctx, b.ID); err != nil {
				return err
			}
		}
		if dead, err = tx.DeadLayers(ctx); err != nil {
			return err
		}
		js, err := tx.Journals(ctx)
		for _, j := range js {
			problem("db/boxlite.db", "journal %s (%s) is still %s", j.ID, j.Kind, j.State)
		}
		return err
	})
	if err != nil {
		return nil, err
	}

	healed, err := rt.heal(ctx, repair && rt.exclusive())
	if err != nil {
		return nil, err
	}
	r.Problems = append(r.Problems, healed...)
	for _, l := range layers {
		path := rt.lay.layer(l.ID)
		parent := ""
		if l.ParentID != "" {
			parent = backingName(l.ParentID)
		}
		rt.checkImage(ctx, r, path, parent, l.VirtualSize)
	}
	for _, b := range boxes {
		if st := State(b.Status); st != Stopped && rt.boxes.vm(b.ID) == nil && !rt.ownerBusy(b) {
			problem(rt.lay.rel(rt.lay.box(b.ID)), "box %s is %s but nothing runs or changes it", b.Name, st)
		}
		cfg, err := parseConfig(b)
		if err != nil {
			problem(rt.lay.rel(rt.lay.box(b.ID)), "%v", err)
			continue
		}
		for _, d := range AllDisks() {
			base := disks[b.ID][string(d)]
			backing := ""
			if base != "" {
				backing = backingName(base)
			}
			if rt.boxes.vm(b.ID) == nil {
				rt.checkImage(ctx, r, rt.lay.active(b.ID, d), backing, cfg.diskSize(d))
			}
		}
	}
	orphans, err := rt.sweep(ctx, repair && rt.exclusive())
	if err != nil {
		return r, err
	}
	r.Problems = append(r.Problems, orphans...)
	rt.layers.gate.Lock()
	held := rt.heldByPins(dead) // by open readers of this process: not a problem
	rt.layers.gate.Unlock()
	for _, l := range dead {
		if held[l.ID] {
			continue
		}
		r.Problems = append(r.Problems, Problem{Path: rt.lay.rel(rt.lay.layer(l.ID)),
			What: "layer nothing holds", Repaired: repair})
	}
	if repair && len(dead) > 0 {
		if err := rt.collect(ctx); err != nil {
			return r, err
		}
	}
	return r, nil
}

// checkImage runs the in-process equivalent of `qemu-img check` on one file
// and checks its backing name and virtual size against the rows.
func (rt *Runtime) checkImage(ctx context.Context, r *FsckReport, path, backing string, size int64) {
	rel := rt.lay.rel(path)
	r.Images++
	res, err := qcow2.Check(ctx, path)
	if err != nil {
		r.Problems = append(r.Problems, Problem{Path: rel, What: err.Error()})
		return
	}
	if res.Corruptions > 0 || res.Leaks > 0 {
		r.Problems = append(r.Problems, Problem{Path: rel,
			What: fmt.Sprintf("%d errors, %d leaked clusters: %v", res.Corruptions, res.Leaks, res.Problems)})
	}
	f, err := os.Open(path)
	if err != nil {
		r.Problems = append(r.Problems, Problem{Path: rel, What: err.Error()})
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return
	}
	info, err := qcow2.Inspect(f, st.Size())
	if err != nil {
		r.Problems = append(r.Problems, Problem{Path: rel, What: err.Error()})
		return
	}
	if info.BackingFile != backing {
		r.Problems = append(r.Problems, Problem{Path: rel,
			What: fmt.Sprintf("backing file %q, the database says %q", info.BackingFile, backing)})
	}
	if size != 0 && info.VirtualSize != size {
		r.Problems = append(r.Problems, Problem{Path: rel,
			What: fmt.Sprintf("virtual size %d, the database says %d", info.VirtualSize, size)})
	}
	if backing != "" {
		img, err := qcow2.Open(path, rt.openPolicy())
		if err != nil {
			r.Problems = append(r.Problems, Problem{Path: rel, What: "chain: " + err.Error()})
			return
		}
		img.Close()
	}
}

// checkLink checks that a snapshot directory's file is the layer's file.
func (rt *Runtime) checkLink(r *FsckReport, link, layer string, repair bool) {
	rel := rt.lay.rel(link)
	want, err := os.Stat(rt.lay.layer(layer))
	if err != nil {
		r.Problems = append(r.Problems, Problem{Path: rel, What: "its layer is missing: " + err.Error()})
		return
	}
	got, err := os.Stat(link)
	if err == nil && os.SameFile(got, want) {
		return
	}
	p := Problem{Path: rel, What: "not a link to its layer " + layer}
	if repair {
		_ = os.Remove(link)
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err == nil {
			p.Repaired = os.Link(rt.lay.layer(layer), link) == nil
		}
	}
	r.Problems = append(r.Problems, p)
}

// checkBasesLink checks a box directory's link to bases/ (see layout).
func (rt *Runtime) checkBasesLink(r *FsckReport, boxID string, repair bool) {
	link := rt.lay.basesLink(boxID)
	if target, err := os.Readlink(link); err == nil && target == basesLinkTarget {
		return
	}
	p := Problem{Path: rt.lay.rel(link), What: "missing or wrong link to bases/"}
	if repair {
		_ = os.Remove(link)
		p.Repaired = os.Symlink(basesLinkTarget, link) == nil
	}
	r.Problems = append(r.Problems, p)
}

// ownerBusy tells whether a live process holds the box for a mutation.
func (rt *Runtime) ownerBusy(b metadata.Box) bool {
	var st boxState
	if json.Unmarshal(b.State, &st) != nil || st.Owner == "" {
		return false
	}
	return rt.ownerAlive(st.Owner)
}

// exclusive tells whether no other process has the home open, by trying to
// turn our shared home lock into an exclusive one (and back).
func (rt *Runtime) exclusive() bool {
	fd := int(rt.locks[0].Fd())
	if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) != nil {
		return false
	}
	_ = unix.Flock(fd, unix.LOCK_SH)
	return true
}
