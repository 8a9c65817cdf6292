package snapshot

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// Concurrency (SPEC 2.4, 2.6): clones and readers run beside each other and
// beside mutations; two mutations of one box never wait for each other, the
// second is refused with ErrBusy at once.

// parallel runs n calls of fn at once (released together) and returns
// their errors by index.
func parallel(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

func TestClonesFromOneSnapshotBesideAReaderAndSnapshots(t *testing.T) {
	h := newHome(t, Options{})
	a := h.createBox("a")
	h.write(a, ContainerDisk, 0x11, 0, 2<<20)
	h.write(a, GuestDisk, 0x12, 0, 1<<20)
	h.snapshot(a, "v1")
	h.write(a, ContainerDisk, 0x22, 1<<20, 2<<20)
	v1 := [2]string{h.digest(a, "v1", GuestDisk), h.digest(a, "v1", ContainerDisk)}
	current := h.digest(a, "", ContainerDisk)

	const clones, snapshots = 10, 4
	errs := parallel(clones+1+snapshots, func(i int) error {
		switch {
		case i < clones:
			opts := DefaultCloneOptions()
			opts.FromSnapshot = "v1"
			_, err := a.Clone(h.ctx, fmt.Sprintf("c%d", i), opts)
			return err
		case i == clones: // a reader streaming the current disk, flattened
			v, err := a.OpenDisk(h.ctx, ContainerDisk)
			if err != nil {
				return err
			}
			defer v.Close()
			sum := sha256.New()
			if _, err := v.WriteTo(h.ctx, sum); err != nil {
				return err
			}
			if got := hex.EncodeToString(sum.Sum(nil))[:16]; got != current {
				return fmt.Errorf("the reader streamed %s, the disk's state was %s", got, current)
			}
			return nil
		default:
			_, err := a.Snapshots().Create(h.ctx, fmt.Sprintf("s%d", i-clones), DefaultSnapshotOptions())
			return err
		}
	})
	made := 0
	for i, err := range errs {
		switch {
		case err == nil:
			if i > clones {
				made++
			}
		case i > clones && errors.Is(err, errdefs.ErrBusy):
			// Snapshot creates of one box at once: the second may be refused.
		default:
			t.Errorf("call %d: %v", i, err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	if made == 0 {
		t.Fatal("no snapshot was made")
	}
	h.requireClean()
	for i := range clones {
		c := h.box(fmt.Sprintf("c%d", i))
		if got := [2]string{h.digest(c, "", GuestDisk), h.digest(c, "", ContainerDisk)}; got != v1 {
			t.Fatalf("clone c%d holds %v, snapshot v1 holds %v", i, got, v1)
		}
	}
	snaps, err := a.Snapshots().List(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range snaps[1:] {
		if got := h.digest(a, s.Name, ContainerDisk); got != current {
			t.Fatalf("snapshot %s holds %s, the box held %s", s.Name, got, current)
		}
	}
}

func TestParallelClonesOfTheCurrentStateAllSucceed(t *testing.T) {
	h := newHome(t, Options{})
	a := h.createBox("a")
	h.write(a, ContainerDisk, 0x11, 0, 2<<20)
	h.write(a, GuestDisk, 0x12, 0, 1<<20)
	want := [2]string{h.digest(a, "", GuestDisk), h.digest(a, "", ContainerDisk)}
	layersBefore, _ := layerFiles(t, h.dir)

	const clones = 10
	errs := parallel(clones, func(i int) error {
		_, err := a.Clone(h.ctx, fmt.Sprintf("c%d", i), DefaultCloneOptions())
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("clone c%d: %v", i, err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	h.requireClean()
	for i := range clones {
		c := h.box(fmt.Sprintf("c%d", i))
		if got := [2]string{h.digest(c, "", GuestDisk), h.digest(c, "", ContainerDisk)}; got != want {
			t.Fatalf("clone c%d holds %v, the source held %v", i, got, want)
		}
	}
	// The clones queued on one freeze: the source's state was frozen once.
	if layersAfter, _ := layerFiles(t, h.dir); len(layersAfter) != len(layersBefore)+2 {
		t.Fatalf("10 clones of one state froze %d layers, want 2 (one a disk)", len(layersAfter)-len(layersBefore))
	}
	if got := [2]string{h.digest(a, "", GuestDisk), h.digest(a, "", ContainerDisk)}; got != want {
		t.Fatalf("cloning changed the source: %v, was %v", got, want)
	}
}

// secondMutations are the mutations of box a (with snapshot v1) that must
// be refused while another mutation holds it.
func secondMutations(h *home, a *Box) map[string]func() error {
	return map[string]func() error{
		"restore":         func() error { return a.Snapshots().Restore(h.ctx, "v1") },
		"snapshot remove": func() error { return a.Snapshots().Remove(h.ctx, "v1") },
		"snapshot rename": func() error { return a.Snapshots().Rename(h.ctx, "v1", "v9") },
		"snapshot create": func() error { _, err := a.Snapshots().Create(h.ctx, "v2", DefaultSnapshotOptions()); return err },
		"box remove":      func() error { return h.rt.RemoveBox(h.ctx, "a") },
		"disk writer": func() error {
			w, err := a.NewDiskWriter(h.ctx, ContainerDisk)
			if err == nil {
				w.Abort()
			}
			return err
		},
		"adopt disk": func() error {
			return a.AdoptDisk(h.ctx, ContainerDisk, DiskRef{BoxID: a.ID(), Snapshot: "v1", Disk: ContainerDisk})
		},
	}
}

func TestSecondMutationOfABoxIsBusyAtOnce(t *testing.T) {
	// The first mutation is held at each of these steps in turn.
	for _, first := range []struct {
		step string
		run  func(h *home, a *Box) error
	}{
		{"snapshot.restore:overlay disk", func(h *home, a *Box) error { return a.Snapshots().Restore(h.ctx, "v1") }},
		{"snapshot.remove:prepared", func(h *home, a *Box) error { return a.Snapshots().Remove(h.ctx, "v1") }},
		{"snapshot.create:overlay disk", func(h *home, a *Box) error {
			_, err := a.Snapshots().Create(h.ctx, "first", DefaultSnapshotOptions())
			return err
		}},
	} {
		t.Run(first.step, func(t *testing.T) {
			var g gate
			h := newHome(t, Options{FailPoint: g.failPoint})
			a := h.createBox("a")
			h.write(a, ContainerDisk, 0x11, 0, 1<<20)
			h.snapshot(a, "v1")
			h.write(a, ContainerDisk, 0x22, 0, 1<<20)

			finish := g.hold(t, first.step, func() error { return first.run(h, a) })
			for name, second := range secondMutations(h, a) {
				err := within(t, name+" during "+first.step, second)
				requireErr(t, err, errdefs.ErrBusy, name+" during "+first.step)
			}
			if err := finish(); err != nil {
				t.Fatalf("the first mutation: %v", err)
			}
			h.requireClean()
		})
	}
}

// Two runtimes on one home (two processes, say a mount and the command):
// the box lock is in the database, so the second is refused too.
func TestSecondMutationFromAnotherRuntimeIsBusy(t *testing.T) {
	var g gate
	h := newHome(t, Options{FailPoint: g.failPoint})
	a := h.createBox("a")
	h.snapshot(a, "v1")
	other := openHome(t, h.dir, Options{})
	otherA := other.box("a")

	finish := g.hold(t, "snapshot.restore:overlay disk", func() error { return a.Snapshots().Restore(h.ctx, "v1") })
	for name, second := range secondMutations(other, otherA) {
		err := within(t, name+" from another runtime", second)
		requireErr(t, err, errdefs.ErrBusy, name+" from another runtime")
	}
	if err := finish(); err != nil {
		t.Fatal(err)
	}
	other.close()
	h.requireClean()
}

// A running box's snapshot waits for the guest to quiesce (up to
// quiesce_timeout_secs); a second snapshot meanwhile is refused, not queued.
func TestSecondSnapshotDuringQuiesceIsBusy(t *testing.T) {
	runner := &fakeRunner{}
	h := newHome(t, Options{Runner: runner})
	a := h.createBox("a")
	h.setState(a, Running)
	began, release := runner.holdFreeze()
	first := make(chan error, 1)
	go func() {
		_, err := a.Snapshots().Create(h.ctx, "first", DefaultSnapshotOptions())
		first <- err
	}()
	<-began
	err := within(t, "a second snapshot during a quiesce", func() error {
		_, err := a.Snapshots().Create(h.ctx, "second", DefaultSnapshotOptions())
		return err
	})
	release()
	requireErr(t, err, errdefs.ErrBusy, "a second snapshot during a quiesce")
	if err := <-first; err != nil {
		t.Fatalf("the first snapshot: %v", err)
	}
	h.setState(a, Stopped)
	h.requireClean()
}

// Clones of the current state freeze the box only briefly, and only when it
// changed: a snapshot beside them waits for that instead of being refused.
func TestSnapshotsBesideClonesOfTheCurrentState(t *testing.T) {
	h := newHome(t, Options{})
	a := h.createBox("a")
	h.write(a, ContainerDisk, 0x11, 0, 1<<20)
	want := h.digest(a, "", ContainerDisk)

	const clones = 10
	errs := parallel(clones+1, func(i int) error {
		if i < clones {
			_, err := a.Clone(h.ctx, fmt.Sprintf("c%d", i), DefaultCloneOptions())
			return err
		}
		for s := range 3 { // one after another: no second mutation at once
			if _, err := a.Snapshots().Create(h.ctx, fmt.Sprintf("s%d", s), DefaultSnapshotOptions()); err != nil {
				return err
			}
		}
		return nil
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	for s := range 3 {
		if got := h.digest(a, fmt.Sprintf("s%d", s), ContainerDisk); got != want {
			t.Fatalf("snapshot s%d holds %s, the box held %s", s, got, want)
		}
	}
	h.requireClean()
}
