package snapshot

import (
	"testing"
)

// Data independence: boxes that share frozen layers never see each other's
// later writes, restore gives back exactly what was frozen, and removing
// anything leaves every other state byte for byte as it was.

func TestClonesAndSourceDoNotSeeEachOthersWrites(t *testing.T) {
	h := newHome(t, Options{})
	a := h.createBox("a")
	h.write(a, ContainerDisk, 0x11, 0, 1<<20)
	h.write(a, GuestDisk, 0x12, 0, 1<<20)
	h.snapshot(a, "v1")
	h.write(a, ContainerDisk, 0x21, 1<<20, 1<<20)

	now := h.clone(a, "now", "")
	fromV1 := h.clone(a, "from-v1", "v1")

	// What each box holds at the moment of cloning.
	if !h.reads(now, ContainerDisk, 0x11, 0, 1<<20) || !h.reads(now, ContainerDisk, 0x21, 1<<20, 1<<20) ||
		!h.reads(now, GuestDisk, 0x12, 0, 1<<20) {
		t.Fatal("a clone of the current state does not hold the source's data")
	}
	if !h.reads(fromV1, ContainerDisk, 0x11, 0, 1<<20) || !h.reads(fromV1, ContainerDisk, 0, 1<<20, 1<<20) {
		t.Fatal("a clone from a snapshot does not hold exactly the snapshot's data")
	}

	// Each side writes over the shared range; nobody else sees it.
	h.write(a, ContainerDisk, 0xa0, 0, 1<<20)
	h.write(now, ContainerDisk, 0xb0, 0, 1<<20)
	h.write(fromV1, ContainerDisk, 0xc0, 0, 1<<20)
	h.write(now, GuestDisk, 0xb1, 0, 1<<20)
	for _, c := range []struct {
		box     *Box
		pattern byte
	}{{a, 0xa0}, {now, 0xb0}, {fromV1, 0xc0}} {
		if !h.reads(c.box, ContainerDisk, c.pattern, 0, 1<<20) {
			info, _ := c.box.Info(h.ctx)
			t.Fatalf("box %s does not read its own write (0x%02x)", info.Name, c.pattern)
		}
	}
	if !h.reads(a, GuestDisk, 0x12, 0, 1<<20) {
		t.Fatal("a write to the clone's guest disk shows on the source")
	}
	if !qemuReads(t, h.saveDisk(a, "v1", ContainerDisk), 0x11, 0, 1<<20) {
		t.Fatal("writes after the snapshot changed the snapshot")
	}
	h.requireClean()
}

func TestRestoreGivesExactlyTheSnapshot(t *testing.T) {
	h := newHome(t, Options{})
	a := h.createBox("a")
	h.write(a, ContainerDisk, 0x11, 0, 2<<20)
	h.write(a, GuestDisk, 0x12, 4<<20, 1<<20)
	h.snapshot(a, "v1")
	atV1 := map[Disk]string{}
	for _, d := range AllDisks() {
		atV1[d] = h.saveDisk(a, "", d) // a copy taken at snapshot time
	}
	h.write(a, ContainerDisk, 0x22, 1<<20, 2<<20)
	h.snapshot(a, "v2")
	atV2 := h.saveDisk(a, "", ContainerDisk)
	h.write(a, ContainerDisk, 0x33, 0, 4<<20)
	h.write(a, GuestDisk, 0x34, 4<<20, 1<<20)

	for _, step := range []struct {
		snapshot string
		want     map[Disk]string
	}{
		{"v1", atV1},
		{"v2", map[Disk]string{ContainerDisk: atV2}},
		{"v1", atV1}, // back past a later snapshot
	} {
		if err := a.Snapshots().Restore(h.ctx, step.snapshot); err != nil {
			t.Fatalf("restore %s: %v", step.snapshot, err)
		}
		for d, want := range step.want {
			got := h.saveDisk(a, "", d)
			qemuCheck(t, got)
			if !qemuCompare(t, got, want) {
				t.Fatalf("after restore %s, disk %s differs from the copy taken at snapshot time", step.snapshot, d)
			}
		}
		// Writing after a restore does not touch the snapshot.
		h.write(a, ContainerDisk, 0x44, 0, 1<<20)
	}
	if !qemuCompare(t, h.saveDisk(a, "v1", ContainerDisk), atV1[ContainerDisk]) {
		t.Fatal("writes after a restore changed the snapshot")
	}
	h.requireClean()
}

func TestRemovingAMiddleSnapshotKeepsEveryOtherState(t *testing.T) {
	h := newHome(t, Options{})
	a := h.createBox("a")
	h.write(a, ContainerDisk, 0x11, 0, 1<<20)
	h.snapshot(a, "v1")
	h.write(a, ContainerDisk, 0x22, 1<<20, 1<<20)
	h.write(a, GuestDisk, 0x23, 0, 1<<20)
	h.snapshot(a, "v2")
	h.clone(a, "c1", "v2")
	c2 := h.clone(a, "c2", "v2")
	h.write(c2, ContainerDisk, 0xc2, 2<<20, 1<<20)
	h.write(a, ContainerDisk, 0x33, 2<<20, 1<<20)
	h.snapshot(a, "v3") // its layer's backing file is v2's layer
	h.write(a, ContainerDisk, 0x44, 3<<20, 1<<20)

	before := h.observe()
	if err := a.Snapshots().Remove(h.ctx, "v2"); err != nil {
		t.Fatal(err)
	}
	after := h.observe()
	want := before
	delete(want["a"].Snapshots, "v2")
	if !equalObserved(want, after) {
		t.Fatalf("removing v2 changed another state:\nbefore\n%s\nafter\n%s", before, after)
	}
	h.requireClean()

	// A reopened home agrees.
	h.reopen()
	if again := h.observe(); !equalObserved(after, again) {
		t.Fatalf("state after reopening:\n%s\nwant\n%s", again, after)
	}

	// Removing everything that held them deletes the layers, and only then.
	for _, name := range []string{"c1", "a", "c2"} {
		if err := h.rt.RemoveBox(h.ctx, name); err != nil {
			t.Fatalf("remove %s: %v", name, err)
		}
		h.requireClean()
	}
	h.rt.compactor.removePending() // merged-away files wait out a grace period: end it
	files, _ := layerFiles(t, h.dir)
	if len(files) != 2 {
		t.Fatalf("with no box left, bases/ holds %d files, want the 2 shared base images: %v", len(files), files)
	}
}

// A reader keeps a removed snapshot's layers until it closes; only then are
// they deleted.
func TestOpenViewOutlivesItsSnapshot(t *testing.T) {
	h := newHome(t, Options{})
	a := h.createBox("a")
	h.write(a, ContainerDisk, 0x11, 0, 1<<20)
	h.snapshot(a, "v1")
	h.write(a, ContainerDisk, 0x22, 0, 1<<20)
	h.snapshot(a, "v2")
	want := h.saveDisk(a, "v2", ContainerDisk)
	if err := a.Snapshots().Restore(h.ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	// Now only v2 holds its layer.
	held := h.openDisk(a, "v2", ContainerDisk)
	layersBefore, _ := layerFiles(t, h.dir)
	if err := a.Snapshots().Remove(h.ctx, "v2"); err != nil {
		t.Fatal(err)
	}
	h.requireClean() // a layer an open reader holds is not a problem
	if layersNow, _ := layerFiles(t, h.dir); len(layersNow) != len(layersBefore) {
		t.Fatal("a layer an open reader holds was deleted")
	}
	if !qemuCompare(t, h.saveView(held), want) {
		t.Fatal("the open view of a removed snapshot changed")
	}
	held.Close()
	if layersNow, _ := layerFiles(t, h.dir); len(layersNow) != len(layersBefore)-1 {
		t.Fatalf("closing the last reader left %d layers, want %d", len(layersNow), len(layersBefore)-1)
	}
	h.requireClean()
}
