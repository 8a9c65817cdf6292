package snapshot

import (
	"errors"
	"io"
	"os"
	"testing"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// The state rules of SPEC 2.6, one test a rule.

func TestSnapshotOfStoppedBoxFreezesItsState(t *testing.T) {
	h := newHome(t, Options{})
	b := h.createBox("a")
	h.write(b, ContainerDisk, 0xa1, 1<<20, 1<<20)
	h.write(b, GuestDisk, 0xa2, 8<<20, 64<<10)

	s := h.snapshot(b, "v1")
	if s.Name != "v1" || s.BoxID != b.ID() || s.Consistency != Clean ||
		s.ContainerDiskBytes != testDiskSize || s.GuestDiskBytes != GuestBaseSize || s.SizeBytes <= 0 {
		t.Fatalf("snapshot info: %+v", s)
	}
	if st, _ := b.State(h.ctx); st != Stopped {
		t.Fatalf("box is %s after a snapshot, want stopped", st)
	}
	h.write(b, ContainerDisk, 0xb1, 1<<20, 1<<20)

	saved := h.saveDisk(b, "v1", ContainerDisk)
	qemuCheck(t, saved)
	if !qemuReads(t, saved, 0xa1, 1<<20, 1<<20) {
		t.Fatal("the snapshot does not hold what the disk held when it was taken")
	}
	if !qemuReads(t, h.saveDisk(b, "v1", GuestDisk), 0xa2, 8<<20, 64<<10) {
		t.Fatal("the snapshot's guest disk lost its data")
	}
	if !h.reads(b, ContainerDisk, 0xb1, 1<<20, 1<<20) {
		t.Fatal("the box does not read what was written after the snapshot")
	}
	// The active layer is a new, small overlay: the freeze copied nothing.
	if st, err := os.Stat(h.active(b, GuestDisk)); err != nil || st.Size() > 1<<20 {
		t.Fatalf("active guest layer after a snapshot: %v, %v", st.Size(), err)
	}
	h.requireClean()
}

func TestSnapshotListAndGetNeverBlock(t *testing.T) {
	var g gate
	h := newHome(t, Options{FailPoint: g.failPoint})
	b := h.createBox("a")
	h.snapshot(b, "v1")
	h.write(b, ContainerDisk, 0x11, 0, 1<<20)

	finish := g.hold(t, "snapshot.restore:overlay disk", func() error { return b.Snapshots().Restore(h.ctx, "v1") })
	err := within(t, "list and get during a restore", func() error {
		if st, err := b.State(h.ctx); err != nil || st != Restoring {
			t.Errorf("state during a restore: %s, %v", st, err)
		}
		if list, err := b.Snapshots().List(h.ctx); err != nil || len(list) != 1 {
			t.Errorf("list during a restore: %v, %v", list, err)
		}
		if _, err := b.Snapshots().Get(h.ctx, "v1"); err != nil {
			return err
		}
		_, err := h.rt.ListBoxes(h.ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := finish(); err != nil {
		t.Fatalf("restore: %v", err)
	}
	h.requireClean()
}

func TestRestoreOnlyWhenStopped(t *testing.T) {
	runner := &fakeRunner{}
	h := newHome(t, Options{Runner: runner})
	b := h.createBox("a")
	h.write(b, ContainerDisk, 0x11, 0, 1<<20)
	h.snapshot(b, "v1")
	h.write(b, ContainerDisk, 0x22, 0, 1<<20)

	h.refusedWhileRunning(b, "restore", func() error { return b.Snapshots().Restore(h.ctx, "v1") })

	if err := b.Snapshots().Restore(h.ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	if st, _ := b.State(h.ctx); st != Stopped {
		t.Fatalf("box is %s after a restore, want stopped", st)
	}
	if !h.reads(b, ContainerDisk, 0x11, 0, 1<<20) {
		t.Fatal("restore did not bring back the snapshot's data")
	}
	h.requireClean()
}

// refusedWhileRunning starts b, checks that fn fails with ErrBusy and
// changes nothing, and stops b again.
func (h *home) refusedWhileRunning(b *Box, what string, fn func() error) {
	h.t.Helper()
	h.setState(b, Running)
	before := h.observe()
	requireErr(h.t, fn(), errdefs.ErrBusy, what+" of a running box")
	if after := h.observe(); !equalObserved(before, after) {
		h.t.Fatalf("a refused %s changed the home:\nbefore\n%s\nafter\n%s", what, before, after)
	}
	h.setState(b, Stopped)
}

func (h *home) setState(b *Box, s State) {
	h.t.Helper()
	if err := b.SetState(h.ctx, s); err != nil {
		h.t.Fatalf("set state %s: %v", s, err)
	}
}

func TestSnapshotRemoveOnlyWhenStopped(t *testing.T) {
	runner := &fakeRunner{}
	h := newHome(t, Options{Runner: runner})
	b := h.createBox("a")
	h.write(b, ContainerDisk, 0x11, 0, 1<<20)
	h.snapshot(b, "v1")
	h.refusedWhileRunning(b, "snapshot remove", func() error { return b.Snapshots().Remove(h.ctx, "v1") })
	if err := b.Snapshots().Remove(h.ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	requireErr(t, func() error { _, err := b.Snapshots().Get(h.ctx, "v1"); return err }(), errdefs.ErrNotFound, "get of a removed snapshot")
	if _, err := os.Stat(h.dir + "/boxes/" + b.ID() + "/snapshots/v1"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the removed snapshot's directory is still there: %v", err)
	}
	if !h.reads(b, ContainerDisk, 0x11, 0, 1<<20) {
		t.Fatal("removing a snapshot changed the box's disk")
	}
	h.requireClean()
}

func TestRemoveBoxOnlyWhenStoppedEvenWithClones(t *testing.T) {
	runner := &fakeRunner{}
	h := newHome(t, Options{Runner: runner})
	a := h.createBox("a")
	h.write(a, ContainerDisk, 0x11, 0, 1<<20)
	h.snapshot(a, "v1")
	h.write(a, ContainerDisk, 0x22, 1<<20, 1<<20)
	h.clone(a, "from-v1", "v1")
	h.clone(a, "from-now", "")

	h.refusedWhileRunning(a, "box remove", func() error { return h.rt.RemoveBox(h.ctx, "a") })

	before := h.observe()
	if err := h.rt.RemoveBox(h.ctx, "a"); err != nil {
		t.Fatal(err)
	}
	after := h.observe()
	delete(before, "a")
	if !equalObserved(before, after) {
		t.Fatalf("removing a box changed its clones:\nbefore\n%s\nafter\n%s", before, after)
	}
	if _, err := os.Stat(h.dir + "/boxes/" + a.ID()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the removed box's directory is still there: %v", err)
	}
	c := h.box("from-now")
	if !h.reads(c, ContainerDisk, 0x11, 0, 1<<20) || !h.reads(c, ContainerDisk, 0x22, 1<<20, 1<<20) {
		t.Fatal("a clone lost data when its source box was removed")
	}
	h.requireClean()
}

// Readers (disk views, exports, clones) take a point-in-time state: they do
// not wait for each other, nor do mutations wait for them.
func TestReadersNeverBlockAndAreNeverBlocked(t *testing.T) {
	h := newHome(t, Options{})
	a := h.createBox("a")
	h.write(a, ContainerDisk, 0x11, 0, 1<<20)
	h.snapshot(a, "v1")
	h.write(a, ContainerDisk, 0x22, 0, 1<<20)

	held := h.openDisk(a, "", ContainerDisk)
	defer held.Close()

	finishExport := h.stalledExport(a)
	if st, _ := a.State(h.ctx); st != Exporting {
		t.Fatalf("state during an export: %s", st)
	}

	err := within(t, "readers and mutations beside a stalled export and an open view", func() error {
		if _, err := a.Clone(h.ctx, "c-now", DefaultCloneOptions()); err != nil {
			return err
		}
		opts := DefaultCloneOptions()
		opts.FromSnapshot = "v1"
		if _, err := a.Clone(h.ctx, "c-v1", opts); err != nil {
			return err
		}
		v, err := a.OpenDisk(h.ctx, ContainerDisk)
		if err != nil {
			return err
		}
		v.Close()
		if err := a.Snapshots().Export(h.ctx, "v1", io.Discard, DefaultExportOptions()); err != nil {
			return err
		}
		if _, err := a.Snapshots().Create(h.ctx, "v2", DefaultSnapshotOptions()); err != nil {
			return err
		}
		return a.Snapshots().Restore(h.ctx, "v1")
	})
	if err != nil {
		t.Fatalf("beside a reader: %v", err)
	}
	if archive := finishExport(); len(archive) == 0 {
		t.Fatal("the export streamed nothing")
	}

	// The view opened before the restore still reads the state it opened.
	saved := h.saveView(held)
	if !qemuReads(t, saved, 0x22, 0, 1<<20) {
		t.Fatal("a view opened before a restore changed under its reader")
	}
	if !h.reads(a, ContainerDisk, 0x11, 0, 1<<20) {
		t.Fatal("the restore beside the readers did not happen")
	}
	held.Close()
	h.requireClean()
}

func TestRunningBoxSnapshotsCloneAndExport(t *testing.T) {
	runner := &fakeRunner{}
	h := newHome(t, Options{Runner: runner})
	a := h.createBox("a")
	h.write(a, ContainerDisk, 0x11, 0, 1<<20)
	h.setState(a, Running)
	if st, _ := a.State(h.ctx); st != Running {
		t.Fatalf("state after start: %s", st)
	}
	runner.takeCalls()

	s, err := a.Snapshots().Create(h.ctx, "q", DefaultSnapshotOptions())
	if err != nil {
		t.Fatal(err)
	}
	if s.Consistency != Quiesced {
		t.Fatalf("snapshot of a running box that froze: consistency %s, want quiesced", s.Consistency)
	}
	if calls := runner.takeCalls(); calls != "freeze,switch,thaw" {
		t.Fatalf("snapshot of a running box asked the VM: %s", calls)
	}
	if st, _ := a.State(h.ctx); st != Running {
		t.Fatalf("state after a snapshot of a running box: %s", st)
	}

	if _, err := a.Clone(h.ctx, "c", DefaultCloneOptions()); err != nil {
		t.Fatalf("clone of a running box: %v", err)
	}
	if err := a.Export(h.ctx, io.Discard, DefaultExportOptions()); err != nil {
		t.Fatalf("export of a running box: %v", err)
	}
	if !qemuReads(t, h.saveDisk(h.box("c"), "", ContainerDisk), 0x11, 0, 1<<20) {
		t.Fatal("clone of a running box lost its data")
	}

	// Quiesce fails, stop_on_quiesce_fail: stopped, captured clean, started.
	runner.setFreezeErr(errors.New("guest agent does not answer"))
	runner.takeCalls()
	s, err = a.Snapshots().Create(h.ctx, "stopped-for-it", DefaultSnapshotOptions())
	if err != nil {
		t.Fatal(err)
	}
	if calls := runner.takeCalls(); s.Consistency != Clean || calls != "freeze,stop,start" {
		t.Fatalf("quiesce failure with stop_on_quiesce_fail: consistency %s, calls %s", s.Consistency, calls)
	}
	// Without it: captured as is, and says so.
	opts := DefaultSnapshotOptions()
	opts.StopOnQuiesceFail = false
	s, err = a.Snapshots().Create(h.ctx, "crash", opts)
	if err != nil {
		t.Fatal(err)
	}
	if calls := runner.takeCalls(); s.Consistency != Crash || calls != "freeze,switch" {
		t.Fatalf("quiesce failure without stop_on_quiesce_fail: consistency %s, calls %s", s.Consistency, calls)
	}
	if st, _ := a.State(h.ctx); st != Running {
		t.Fatalf("state after the snapshots: %s", st)
	}
	h.setState(a, Stopped)
	h.requireClean()
}
