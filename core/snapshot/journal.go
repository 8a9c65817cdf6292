package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/metadata"
)

// Every mutation is atomic across the database and the files (SPEC 2.6):
//
//  1. begin:   one transaction takes the box (status compare-and-set) and
//     records the plan, a journal row in state "prepared";
//  2. prepare: new files are made under names listed in the plan
//     (nothing that exists is modified);
//  3. commit:  one transaction writes the new rows and flips the journal row
//     to "committed" — the point of no return;
//  4. finish:  staged files are renamed into place, obsolete ones removed,
//     then one transaction gives the box back and drops the journal row.
//
// After a crash, recovery undoes a prepared plan (removes what it created)
// and finishes a committed one; both are idempotent.

// plan is what a mutation does to files, written down before it starts.
// Paths are relative to the home.
type plan struct {
	BoxID      string   `json:"box_id,omitempty"`
	PrevStatus State    `json:"prev_status,omitempty"`
	Created    []string `json:"created,omitempty"`   // made before commit; removed on undo
	Renames    []rename `json:"renames,omitempty"`   // after commit
	Removes    []string `json:"removes,omitempty"`   // after commit
	ReadOnly   []string `json:"read_only,omitempty"` // made read-only after commit (new frozen layers)
	Relinks    []rename `json:"relinks,omitempty"`   // after the renames: To becomes a hard link of From
}

type rename struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// lockRequest takes a box for a mutation: its status must be one of From,
// and shows To while the mutation runs.
type lockRequest struct {
	BoxID string
	From  []State
	To    State
}

// mutation is one journaled change.
type mutation struct {
	rt   *Runtime
	id   string
	kind string
	plan plan
}

// mutate runs a mutation through begin, prepare, commit and finish. prepare
// makes the planned files; commit writes the rows. Any error before the
// commit undoes everything.
func (rt *Runtime) mutate(ctx context.Context, kind string, p plan, lock *lockRequest,
	prepare func(m *mutation) error, commit func(tx *metadata.Tx) error) error {
	m := &mutation{rt: rt, id: newID()[:16], kind: kind, plan: p}
	if m.createsOnly() && lock == nil {
		return m.runUnjournaled(ctx, prepare, commit)
	}
	if err := m.begin(ctx, lock); err != nil {
		return err
	}
	if prepare != nil {
		if err := prepare(m); err != nil {
			return m.undo(err)
		}
	}
	if err := m.syncCreated(); err != nil {
		return m.undo(err)
	}
	m.step("prepared")
	err := rt.db.Update(ctx, func(tx *metadata.Tx) error {
		if err := commit(tx); err != nil {
			return err
		}
		return tx.MarkCommitted(ctx, m.id)
	})
	if err != nil {
		return m.undo(err)
	}
	m.step("committed")
	if err := m.finish(context.WithoutCancel(ctx)); err != nil {
		// Committed: the change stands; the next open finishes the files.
		rt.log.Error("finishing a committed change failed; recovery will complete it",
			"kind", kind, "journal", m.id, "err", err)
	}
	return nil
}

// createsOnly tells whether the plan only makes new files: then nothing
// needs doing after the commit, and a crash before it leaves only files that
// no row refers to, which recovery sweeps as orphans. Such a mutation needs
// no journal row (one database commit instead of three: clones are fast).
func (m *mutation) createsOnly() bool {
	p := m.plan
	return len(p.Renames) == 0 && len(p.Removes) == 0 && len(p.ReadOnly) == 0 && len(p.Relinks) == 0
}

func (m *mutation) runUnjournaled(ctx context.Context, prepare func(m *mutation) error, commit func(tx *metadata.Tx) error) error {
	fail := func(err error) error {
		if uerr := undoFiles(m.rt.home, m.plan); uerr != nil {
			m.rt.log.Error("undo failed; recovery will sweep the orphans", "kind", m.kind, "err", uerr)
		}
		return err
	}
	if prepare != nil {
		if err := prepare(m); err != nil {
			return fail(err)
		}
	}
	if err := m.syncCreated(); err != nil {
		return fail(err)
	}
	m.step("prepared")
	if err := m.rt.db.Update(ctx, commit); err != nil {
		return fail(err)
	}
	m.step("committed")
	return nil
}

func (m *mutation) begin(ctx context.Context, lock *lockRequest) error {
	plan := m.plan
	// Relaxed: if a power failure loses this record, it also loses the
	// status change, and what prepare made is swept as orphans.
	defer m.statusChanged()
	return m.rt.db.UpdateRelaxed(ctx, func(tx *metadata.Tx) error {
		if lock != nil {
			prev, err := m.rt.takeBox(ctx, tx, *lock, m.kind)
			if err != nil {
				return err
			}
			plan.PrevStatus = prev
			m.plan.PrevStatus = prev
		}
		body, err := json.Marshal(plan)
		if err != nil {
			return err
		}
		return tx.InsertJournal(ctx, metadata.Journal{
			ID: m.id, Owner: m.rt.owner, Kind: m.kind, State: metadata.Prepared,
			Plan: body, CreatedAt: time.Now(),
		})
	})
}

// takeBox is the compare-and-set on a box's status that makes a second
// mutation of the same box fail at once with ErrBusy.
func (rt *Runtime) takeBox(ctx context.Context, tx *metadata.Tx, lock lockRequest, kind string) (State, error) {
	b, err := tx.BoxByID(ctx, lock.BoxID)
	if err != nil {
		return "", err
	}
	prev := State(b.Status)
	if !slices.Contains(lock.From, prev) {
		return "", fmt.Errorf("box %s is %s: %w", b.Name, prev, errdefs.ErrBusy)
	}
	state, _ := json.Marshal(boxState{Op: kind, Owner: rt.owner, Prev: prev})
	ok, err := tx.SetStatus(ctx, lock.BoxID, string(lock.To), state, string(prev))
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("box %s changed meanwhile: %w", b.Name, errdefs.ErrBusy)
	}
	return prev, nil
}

// boxState is box_state.json: who holds the box and what it was before.
type boxState struct {
	Op    string `json:"op,omitempty"`
	Owner string `json:"owner,omitempty"`
	Prev  State  `json:"prev,omitempty"`
}

// statusChanged tells subscribers (state, box.json) that the mutation took
// or gave back its box.
func (m *mutation) statusChanged() {
	if m.plan.BoxID != "" {
		m.rt.publish(BoxChanged, m.plan.BoxID)
	}
}

// step marks a point a crash test may stop at.
func (m *mutation) step(name string) {
	if m.rt.opts.FailPoint != nil {
		m.rt.opts.FailPoint(m.kind + ":" + name)
	}
}

func (m *mutation) abs(rel string) string { return filepath.Join(m.rt.home, rel) }

// undo removes what prepare made, gives the box back and drops the journal
// row. It returns cause, so callers can write `return m.undo(err)`.
func (m *mutation) undo(cause error) error {
	ctx := context.Background()
	defer m.statusChanged()
	if err := undoFiles(m.rt.home, m.plan); err != nil {
		m.rt.log.Error("undo failed; recovery will retry", "kind", m.kind, "err", err)
		return cause
	}
	if err := m.rt.db.UpdateRelaxed(ctx, func(tx *metadata.Tx) error {
		if err := releaseBox(ctx, tx, m.plan); err != nil {
			return err
		}
		return tx.DeleteJournal(ctx, m.id)
	}); err != nil {
		m.rt.log.Error("undo: database", "kind", m.kind, "err", err)
	}
	return cause
}

func (m *mutation) finish(ctx context.Context) error {
	defer m.statusChanged()
	if err := finishFiles(m.rt.home, m.plan, m.step); err != nil {
		return err
	}
	m.step("finished")
	// Relaxed: if lost, recovery finishes the files again (idempotent).
	return m.rt.db.UpdateRelaxed(ctx, func(tx *metadata.Tx) error {
		if err := releaseBox(ctx, tx, m.plan); err != nil {
			return err
		}
		return tx.DeleteJournal(ctx, m.id)
	})
}

// releaseBox restores the status a box had before the mutation took it,
// unless the box is gone (a remove) or someone else holds it.
func releaseBox(ctx context.Context, tx *metadata.Tx, p plan) error {
	if p.BoxID == "" || p.PrevStatus == "" {
		return nil
	}
	_, err := tx.SetStatus(ctx, p.BoxID, string(p.PrevStatus), []byte("{}"),
		string(Snapshotting), string(Restoring), string(removing))
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil
	}
	return err
}

// removing is the status of a box being removed; it is never seen from
// outside because the box is gone when the removal commits.
const removing State = "removing"

// undoFiles removes everything a prepared plan created. Idempotent.
func undoFiles(home string, p plan) error {
	var errs []error
	for i := len(p.Created) - 1; i >= 0; i-- {
		path := filepath.Join(home, p.Created[i])
		if err := os.RemoveAll(path); err != nil {
			errs = append(errs, err)
		}
		syncDir(filepath.Dir(path))
	}
	return errors.Join(errs...)
}

// finishFiles completes a committed plan. Idempotent: a rename whose source
// is gone was done already. Nothing here is synced: the new names are of
// files recovery can make again from the database (see heal.go), and what
// is removed is swept as an orphan if a power failure brings it back.
func finishFiles(home string, p plan, step func(string)) error {
	for _, r := range p.Renames {
		from, to := filepath.Join(home, r.From), filepath.Join(home, r.To)
		if err := os.Rename(from, to); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("finish: %w", err)
		}
		step("renamed " + filepath.Base(r.To))
	}
	for _, r := range p.Relinks {
		from, to := filepath.Join(home, r.From), filepath.Join(home, r.To)
		tmp := to + ".relink"
		_ = os.Remove(tmp)
		if err := os.Link(from, tmp); err != nil {
			return fmt.Errorf("finish: %w", err)
		}
		if err := os.Rename(tmp, to); err != nil {
			return fmt.Errorf("finish: %w", err)
		}
		step("relinked " + filepath.Base(r.To))
	}
	for _, rel := range p.Removes {
		path := filepath.Join(home, rel)
		if err := os.RemoveAll(path); err != nil {
			return fmt.Errorf("finish: %w", err)
		}
		step("removed " + filepath.Base(rel))
	}
	for _, rel := range p.ReadOnly {
		if err := os.Chmod(filepath.Join(home, rel), 0o444); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("finish: %w", err)
		}
	}
	return nil
}

// syncCreated makes durable, before the commit refers to them, the new
// files that hold data: frozen layers in bases/ (a frozen active file's data
// too). Everything else a mutation creates (box directories, empty overlays,
// snapshot directories and their links) recovery makes again from the
// database if a power failure loses it (see heal.go).
func (m *mutation) syncCreated() error {
	var paths []string
	dirs := map[string]bool{}
	bases := m.rt.lay.rel(m.rt.lay.bases()) + string(filepath.Separator)
	for _, rel := range m.plan.Created {
		if !strings.HasPrefix(rel, bases) {
			continue
		}
		path := m.abs(rel)
		paths = append(paths, path)
		dirs[filepath.Dir(path)] = true
		dirs[m.rt.lay.bases()] = true // a new shard directory's own entry
	}
	for d := range dirs {
		paths = append(paths, d)
	}
	return syncAll(paths)
}

// syncAll syncs files and directories all at once: a journaling filesystem
// makes concurrent syncs durable in one journal commit, where syncs in turn
// wait for one commit each.
func syncAll(paths []string) error {
	errs := make([]error, len(paths))
	var wg sync.WaitGroup
	for i, path := range paths {
		wg.Go(func() {
			if err := syncFile(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs[i] = err
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// syncFile makes a file's data, or a directory's entries, durable.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func syncDir(dir string) { _ = syncFile(dir) }
