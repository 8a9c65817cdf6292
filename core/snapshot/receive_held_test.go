package snapshot

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// A copy of a box directory kept on ext4 lists in hash order: its disks,
// and its snapshots' disks, may come before box.json. The box is a clone
// all the same, and stores only what differs from its source.
func TestDisksBeforeBoxJSONStillMakeAClone(t *testing.T) {
	h := newHome(t, Options{})
	a := cloneSource(h)
	changed := h.saveDisk(a, "", ContainerDisk)
	qemuIO(t, changed, "write -P 0x77 8M 1M")
	used := homeBytes(t, h.dir)

	ct := h.reserve("y")
	if err := ct.Mkdir(h.ctx, "snapshots/v1"); err != nil {
		t.Fatal(err)
	}
	for _, d := range AllDisks() {
		v := h.openDisk(a, "v1", d)
		h.mustWriteFile(ct, "snapshots/v1/"+d.FileName(), io.NewSectionReader(v, 0, v.Size()))
		v.Close()
	}
	v := h.openDisk(a, "", GuestDisk)
	h.mustWriteFile(ct, "guest-rootfs.qcow2", io.NewSectionReader(v, 0, v.Size()))
	v.Close()
	f, err := os.Open(changed)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h.mustWriteFile(ct, "disk.qcow2", f)
	if ct.Box() != nil {
		t.Fatal("disks without box.json made a box before box.json came")
	}
	h.writeBoxJSON(ct, a)
	ct.Close()

	y := h.box("y")
	requireCloneOf(t, y, a)
	if g, w := h.digest(y, "", GuestDisk), h.digest(a, "", GuestDisk); g != w {
		t.Fatalf("guest disk: %s, source %s", g, w)
	}
	if !qemuCompare(t, h.saveDisk(y, "", ContainerDisk), changed) {
		t.Fatal("the clone's container disk is not the image that was written")
	}
	for _, d := range AllDisks() {
		if g, w := h.digest(y, "v1", d), h.digest(a, "v1", d); g != w {
			t.Fatalf("snapshot v1 disk %s: %s, the source's is %s", d, g, w)
		}
	}
	grown := homeBytes(t, h.dir) - used
	t.Logf("1 MiB changed, disks before box.json: the home grew by %d bytes", grown)
	if grown > 2<<20 {
		t.Fatalf("the copy stored %d bytes: its disks were not compared with the source", grown)
	}
	h.requireClean()
}

// Disks copied without any box.json make a box of their own once the copy
// settles; a bad one is refused when it is closed, not later.
func TestDisksWithoutBoxJSONWaitForTheCopyToSettle(t *testing.T) {
	h := newHome(t, Options{})
	a := cloneSource(h)
	saved := h.saveDisk(a, "", ContainerDisk)

	ct := h.reserve("y")
	body, err := os.ReadFile(saved)
	if err != nil {
		t.Fatal(err)
	}
	requireErr(t, h.writeFile(ct, "guest-rootfs.qcow2", bytes.NewReader(body[:len(body)/2])), errdefs.ErrCorrupt, "a truncated image")
	h.mustWriteFile(ct, "disk.qcow2", bytes.NewReader(body))
	if ct.Box() != nil {
		t.Fatal("a disk without box.json made a box before the copy settled")
	}
	if err := ct.Settle(h.ctx); err != nil {
		t.Fatal(err)
	}
	y := ct.Box()
	if y == nil {
		t.Fatal("no box once the copy settled")
	}
	if info, _ := y.Info(h.ctx); info.Origin != nil && info.Origin.Kind == "clone" {
		t.Fatalf("a copy that named no source is a clone: %+v", info.Origin)
	}
	if !qemuCompare(t, h.saveDisk(y, "", ContainerDisk), saved) {
		t.Fatal("the box's container disk is not the image that was written")
	}
	ct.Close()

	// A copy forgotten with a disk held leaves nothing staged.
	ct = h.reserve("z")
	h.mustWriteFile(ct, "disk.qcow2", bytes.NewReader(body))
	ct.Close()
	if left, _ := os.ReadDir(filepath.Join(h.dir, "tmp")); len(left) > 0 {
		t.Fatalf("a forgotten copy left %d files in tmp/", len(left))
	}
	if _, err := h.rt.Box(h.ctx, "z"); err == nil {
		t.Fatal("a forgotten copy made box z")
	}
	h.requireClean()
}

// requireCloneOf checks that b is a clone of the current state of src.
func requireCloneOf(t *testing.T, b, src *Box) {
	t.Helper()
	info, err := b.Info(t.Context())
	if err != nil || info.Origin == nil || info.Origin.Kind != "clone" || info.Origin.BoxID != src.ID() || info.Origin.Snapshot != "" {
		t.Fatalf("origin %+v (%v), want a clone of box %s", info.Origin, err, src.ID())
	}
}
