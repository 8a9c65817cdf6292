package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/boxlite-ai/boxlitefs/metadata"
)

// Problem is one thing recovery or fsck found, and whether it was fixed.
type Problem struct {
	Path     string `json:"path,omitempty"` // relative to the home
	What     string `json:"what"`
	Repaired bool   `json:"repaired"`
}

func (p Problem) String() string {
	s := p.What
	if p.Path != "" {
		s = p.Path + ": " + s
	}
	if p.Repaired {
		s += " (repaired)"
	}
	return s
}

// recover finishes or undoes the mutations that dead processes left in the
// journal. With the home to itself (exclusive), it also resets the status of
// boxes whose VMs died with their process, and removes orphans: files that
// no row refers to, which only a crash between file work and its commit can
// leave.
func (rt *Runtime) recover(ctx context.Context, exclusive bool) ([]Problem, error) {
	var found []Problem
	var journals []metadata.Journal
	if err := rt.db.View(ctx, func(tx *metadata.Tx) error {
		var err error
		journals, err = tx.Journals(ctx)
		return err
	}); err != nil {
		return nil, err
	}
	for _, j := range journals {
		if !exclusive && rt.ownerAlive(j.Owner) {
			continue
		}
		var p plan
		if err := json.Unmarshal(j.Plan, &p); err != nil {
			return found, fmt.Errorf("journal %s: %w", j.ID, err)
		}
		what := "unfinished " + j.Kind + " undone"
		var err error
		if j.State == metadata.Committed {
			what = "committed " + j.Kind + " finished"
			err = finishFiles(rt.home, p, func(string) {})
		} else {
			err = undoFiles(rt.home, p)
		}
		if err != nil {
			return found, fmt.Errorf("journal %s (%s): %w", j.ID, j.Kind, err)
		}
		if err := rt.db.Update(ctx, func(tx *metadata.Tx) error {
			if err := releaseBox(ctx, tx, p); err != nil {
				return err
			}
			return tx.DeleteJournal(ctx, j.ID)
		}); err != nil {
			return found, err
		}
		found = append(found, Problem{What: what, Repaired: true})
		rt.log.Info("recovered", "journal", j.ID, "kind", j.Kind, "state", j.State)
	}
	if !exclusive {
		return found, nil
	}
	reset, err := rt.resetStatuses(ctx)
	if err != nil {
		return found, err
	}
	found = append(found, reset...)
	healed, err := rt.heal(ctx, true)
	if err != nil {
		return found, err
	}
	found = append(found, healed...)
	orphans, err := rt.sweep(ctx, true)
	if err != nil {
		return found, err
	}
	found = append(found, orphans...)
	if err := rt.collect(ctx); err != nil {
		return found, err
	}
	return found, nil
}

// Recovered lists what opening the home repaired.
func (rt *Runtime) Recovered() []Problem { return rt.recovered }

// ownerAlive tells whether the runtime that wrote a journal row still holds
// its lock.
func (rt *Runtime) ownerAlive(owner string) bool {
	if owner == rt.owner {
		return true
	}
	path := filepath.Join(rt.lay.owners(), owner+".lock")
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		return true
	}
	os.Remove(path)
	return false
}

// resetStatuses marks stopped every box whose status says a process (now
// gone) was running or changing it.
func (rt *Runtime) resetStatuses(ctx context.Context) ([]Problem, error) {
	var found []Problem
	err := rt.db.Update(ctx, func(tx *metadata.Tx) error {
		boxes, err := tx.Boxes(ctx)
		if err != nil {
			return err
		}
		for _, b := range boxes {
			if State(b.Status) == Stopped {
				continue
			}
			if _, err := tx.SetStatus(ctx, b.ID, string(Stopped), []byte("{}")); err != nil {
				return err
			}
			found = append(found, Problem{Path: "boxes/" + b.ID,
				What: fmt.Sprintf("box %s was %s when its process ended; now stopped", b.Name, b.Status), Repaired: true})
		}
		return nil
	})
	return found, err
}

// sweep finds (and with repair removes) files that no row refers to: layer
// files, box directories, snapshot directories, staging files, tmp/ and
// stale owner locks. Only safe when no other process uses the home.
func (rt *Runtime) sweep(ctx context.Context, repair bool) ([]Problem, error) {
	known := map[string]bool{} // home-relative paths rows refer to
	err := rt.db.View(ctx, func(tx *metadata.Tx) error {
		layers, err := tx.Layers(ctx)
		if err != nil {
			return err
		}
		for _, l := range layers {
			known[rt.lay.rel(rt.lay.layer(l.ID))] = true
		}
		boxes, err := tx.Boxes(ctx)
		if err != nil {
			return err
		}
		for _, b := range boxes {
			known[rt.lay.rel(rt.lay.box(b.ID))] = true
			snaps, err := tx.Snapshots(ctx, b.ID)
			if err != nil {
				return err
			}
			for _, s := range snaps {
				known[rt.lay.rel(rt.lay.snapshotDir(b.ID, s.Name))] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var orphans []string
	add := func(path string) { orphans = append(orphans, path) }
	// bases/{xx}/{id}.qcow2
	shards, _ := os.ReadDir(rt.lay.bases())
	for _, shard := range shards {
		dir := filepath.Join(rt.lay.bases(), shard.Name())
		files, _ := os.ReadDir(dir)
		for _, f := range files {
			p := filepath.Join(dir, f.Name())
			if !known[rt.lay.rel(p)] && !rt.compactor.pendingRemoval(p) {
				add(p)
			}
		}
	}
	// boxes/{id}/ and what is inside
	boxDirs, _ := os.ReadDir(rt.lay.boxes())
	for _, bd := range boxDirs {
		dir := filepath.Join(rt.lay.boxes(), bd.Name())
		if !known[rt.lay.rel(dir)] {
			add(dir)
			continue
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				add(filepath.Join(dir, e.Name()))
			}
		}
		snaps, _ := os.ReadDir(filepath.Join(dir, "snapshots"))
		for _, s := range snaps {
			if p := filepath.Join(dir, "snapshots", s.Name()); !known[rt.lay.rel(p)] {
				add(p)
			}
		}
	}
	tmp, _ := os.ReadDir(rt.lay.tmp())
	for _, t := range tmp {
		add(filepath.Join(rt.lay.tmp(), t.Name()))
	}
	var found []Problem
	for _, path := range orphans {
		p := Problem{Path: rt.lay.rel(path), What: "orphan: no database row refers to it"}
		if repair {
			if err := os.RemoveAll(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return found, err
			}
			p.Repaired = true
		}
		found = append(found, p)
	}
	owners, _ := os.ReadDir(rt.lay.owners())
	for _, o := range owners {
		if id := strings.TrimSuffix(o.Name(), ".lock"); id != rt.owner && repair {
			rt.ownerAlive(id) // removes the lock file of a dead owner
		}
	}
	return found, nil
}
