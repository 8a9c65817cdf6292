package snapshot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// Clone targets (SPEC 2.4) at the engine level: what `cp -r` (through
// copy_file_range) and byte-copying tools (rsync, shutil) do to clones/NAME.

// cloneSource makes box a with data on both disks and two snapshots.
func cloneSource(h *home) *Box {
	h.t.Helper()
	a := h.createBox("a")
	h.write(a, ContainerDisk, 0x11, 0, 2<<20)
	h.write(a, GuestDisk, 0x12, 0, 1<<20)
	h.snapshot(a, "v1")
	h.write(a, ContainerDisk, 0x22, 2<<20, 2<<20)
	h.snapshot(a, "v2")
	h.write(a, ContainerDisk, 0x33, 4<<20, 2<<20)
	return a
}

func (h *home) reserve(name string) *CloneTarget {
	h.t.Helper()
	ct, err := h.rt.ReserveClone(h.ctx, name)
	if err != nil {
		h.t.Fatalf("reserve clone %s: %v", name, err)
	}
	h.t.Cleanup(ct.Close)
	return ct
}

// copyFrom is copy_file_range of one disk file of the mount into rel.
func (h *home) copyFrom(ct *CloneTarget, rel string, from *Box, snapshot string, d Disk) {
	h.t.Helper()
	v := h.openDisk(from, snapshot, d)
	defer v.Close()
	if err := ct.CopyFrom(h.ctx, rel, v.Ref()); err != nil {
		h.t.Fatalf("copy_file_range into %s: %v", rel, err)
	}
}

// writeFile is a byte copy of one file into rel: create, write in 128 KiB
// pieces from r, close.
func (h *home) writeFile(ct *CloneTarget, rel string, r io.Reader) error {
	h.t.Helper()
	in, err := ct.Create(h.ctx, rel)
	if err != nil {
		return err
	}
	buf := make([]byte, 128<<10)
	var off int64
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if _, err := in.WriteAt(buf[:n], off); err != nil {
				in.Abort()
				return err
			}
			off += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			in.Abort()
			return rerr
		}
	}
	return in.Close(h.ctx)
}

func (h *home) mustWriteFile(ct *CloneTarget, rel string, r io.Reader) {
	h.t.Helper()
	if err := h.writeFile(ct, rel, r); err != nil {
		h.t.Fatalf("write %s: %v", rel, err)
	}
}

// writeBoxJSON copies box.json as a byte-copying tool does.
func (h *home) writeBoxJSON(ct *CloneTarget, from *Box) {
	h.t.Helper()
	info, err := from.Info(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	body, _ := json.MarshalIndent(info, "", "  ")
	h.mustWriteFile(ct, "box.json", bytes.NewReader(body))
}

// requireSameDisks checks that box got holds what want holds (a box's
// current state, or one of its snapshots).
func (h *home) requireSameDisks(got *Box, want *Box, snapshot string) {
	h.t.Helper()
	for _, d := range AllDisks() {
		if g, w := h.digest(got, "", d), h.digest(want, snapshot, d); g != w {
			h.t.Fatalf("disk %s of the clone is %s, its source (snapshot %q) is %s", d, g, snapshot, w)
		}
	}
}

// homeBytes is what the home occupies on disk, each file counted once
// however many links it has (the database aside).
func homeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	seen := map[uint64]bool{}
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "db" {
				return filepath.SkipDir
			}
			return nil
		}
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		if ino := st.Sys().(*syscall.Stat_t).Ino; !seen[ino] {
			seen[ino] = true
			total += allocated(st)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

func TestCopyFileRangeFromABoxMakesACloneSharingLayers(t *testing.T) {
	h := newHome(t, Options{})
	a := cloneSource(h)
	used := homeBytes(t, h.dir)

	ct := h.reserve("y")
	if names, _ := h.rt.CloneNames(h.ctx); !slices.Contains(names, "y") {
		t.Fatalf("clones/ does not list the reserved name: %v", names)
	}
	// cp -r boxes/a clones/y, in the order cp meets the files.
	h.writeBoxJSON(ct, a)
	if err := ct.Mkdir(h.ctx, "settings"); err != nil {
		t.Fatal(err)
	}
	h.mustWriteFile(ct, "settings/export.compress", bytes.NewReader([]byte("false\n")))
	h.mustWriteFile(ct, "state", bytes.NewReader([]byte("stopped\n")))
	h.copyFrom(ct, "guest-rootfs.qcow2", a, "", GuestDisk)
	h.copyFrom(ct, "disk.qcow2", a, "", ContainerDisk)
	h.copyFrom(ct, "disk.qcow2", a, "", ContainerDisk) // cp may repeat a range: a no-op
	ct.Close()

	y := h.box("y")
	info, _ := y.Info(h.ctx)
	if info.Origin == nil || info.Origin.Kind != "clone" || info.Origin.BoxID != a.ID() {
		t.Fatalf("origin of the clone: %+v", info.Origin)
	}
	h.requireSameDisks(y, a, "")
	for _, d := range AllDisks() {
		if got, want := backingOf(t, h.active(y, d)), backingOf(t, h.active(a, d)); got != want {
			t.Fatalf("disk %s: the clone is on %s, the source on %s: no layer is shared", d, got, want)
		}
	}
	if grown := homeBytes(t, h.dir) - used; grown > 512<<10 {
		t.Fatalf("the clone grew the home by %d bytes: data was copied", grown)
	}
	if s, _ := y.Settings(h.ctx); s.Export.Compress {
		t.Fatal("the copied setting export.compress=false was not applied")
	}
	if names, _ := h.rt.CloneNames(h.ctx); !slices.Contains(names, "y") {
		t.Fatalf("clones/ does not list the clone: %v", names)
	}
	h.requireClean()
}

// cp creates each disk file and then copies it by reference: the view
// that written bytes are compared with is opened by the first write only.
func TestCreateOpensNoComparisonView(t *testing.T) {
	h := newHome(t, Options{})
	a := cloneSource(h)
	ct := h.reserve("y")
	h.writeBoxJSON(ct, a)
	in, err := ct.Create(h.ctx, "disk.qcow2")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Abort()
	if in.cmp != nil {
		t.Fatal("Create opened a view of the source disk")
	}
	v := h.openDisk(a, "", ContainerDisk)
	defer v.Close()
	head := make([]byte, 64<<10)
	if _, err := v.ReadAt(head, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := in.WriteAt(head, 0); err != nil {
		t.Fatal(err)
	}
	if in.cmp == nil || in.f != nil {
		t.Fatalf("after a first write equal to the source: view %v, staged file %v", in.cmp != nil, in.f != nil)
	}
}

func TestCopyFileRangeFromASnapshotDir(t *testing.T) {
	h := newHome(t, Options{})
	a := cloneSource(h)
	ct := h.reserve("w1")
	h.copyFrom(ct, "disk.qcow2", a, "v1", ContainerDisk)
	h.copyFrom(ct, "guest-rootfs.qcow2", a, "v1", GuestDisk)
	ct.Close()

	w1 := h.box("w1")
	info, _ := w1.Info(h.ctx)
	if info.Origin == nil || info.Origin.Snapshot != "v1" {
		t.Fatalf("origin of a clone of a snapshot dir: %+v", info.Origin)
	}
	h.requireSameDisks(w1, a, "v1")
	h.requireClean()
}

func TestCopiedSnapshotsShareTheirLayers(t *testing.T) {
	h := newHome(t, Options{})
	a := cloneSource(h)
	ct := h.reserve("y")
	h.copyFrom(ct, "guest-rootfs.qcow2", a, "", GuestDisk)
	for _, s := range []string{"v1", "v2"} {
		if err := ct.Mkdir(h.ctx, "snapshots/"+s); err != nil {
			t.Fatal(err)
		}
		for _, d := range AllDisks() {
			h.copyFrom(ct, "snapshots/"+s+"/"+d.FileName(), a, s, d)
		}
	}
	h.copyFrom(ct, "disk.qcow2", a, "", ContainerDisk)
	ct.Close()

	y := h.box("y")
	h.requireSameDisks(y, a, "")
	list, err := y.Snapshots().List(h.ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("snapshots of the clone: %v, %v", list, err)
	}
	for _, s := range []string{"v1", "v2"} {
		for _, d := range AllDisks() {
			if g, w := h.digest(y, s, d), h.digest(a, s, d); g != w {
				t.Fatalf("snapshot %s disk %s: %s, the source's is %s", s, d, g, w)
			}
			got, err1 := os.Stat(filepath.Join(h.dir, "boxes", y.ID(), "snapshots", s, d.FileName()))
			want, err2 := os.Stat(filepath.Join(h.dir, "boxes", a.ID(), "snapshots", s, d.FileName()))
			if err1 != nil || err2 != nil || !os.SameFile(got, want) {
				t.Fatalf("snapshot %s disk %s is not the source's layer (%v, %v)", s, d, err1, err2)
			}
		}
	}
	// Removing the source leaves the clone's snapshots whole.
	if err := h.rt.RemoveBox(h.ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := y.Snapshots().Restore(h.ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	if !h.reads(y, ContainerDisk, 0x11, 0, 2<<20) || !h.reads(y, ContainerDisk, 0, 2<<20, 2<<20) {
		t.Fatal("the clone's copied snapshot v1 does not hold v1's data")
	}
	h.requireClean()
}

// cp copies a directory's entries in inode order, so snapshots/S/ may come
// before the box's own disks: the box is still a clone of the source's
// current state, and its own disks then are no-ops.
func TestSnapshotsCopiedFirstCloneTheCurrentState(t *testing.T) {
	h := newHome(t, Options{})
	a := cloneSource(h)
	ct := h.reserve("y")
	for _, d := range AllDisks() {
		h.copyFrom(ct, "snapshots/v1/"+d.FileName(), a, "v1", d)
	}
	for _, d := range AllDisks() {
		h.copyFrom(ct, d.FileName(), a, "", d)
	}
	ct.Close()

	y := h.box("y")
	info, _ := y.Info(h.ctx)
	if info.Origin == nil || info.Origin.BoxID != a.ID() || info.Origin.Snapshot != "" {
		t.Fatalf("origin of a box copied snapshots first: %+v", info.Origin)
	}
	h.requireSameDisks(y, a, "")
	if list, err := y.Snapshots().List(h.ctx); err != nil || len(list) != 1 || list[0].Name != "v1" {
		t.Fatalf("snapshots of the clone: %v, %v", list, err)
	}
	h.requireClean()
}

// Tools that write bytes (rsync, shutil, file managers): box.json names the
// source, and bytes equal to the source's are not stored.
func TestByteCopyOfABoxStoresNothingOfItsOwn(t *testing.T) {
	h := newHome(t, Options{})
	a := cloneSource(h)
	used := homeBytes(t, h.dir)

	ct := h.reserve("y")
	h.writeBoxJSON(ct, a)
	for _, d := range AllDisks() {
		v := h.openDisk(a, "", d)
		// rsync writes ".NAME.XXXXXX" and renames it.
		tmp := "." + d.FileName() + ".Zx81Qa"
		h.mustWriteFile(ct, tmp, io.NewSectionReader(v, 0, v.Size()))
		v.Close()
		if err := ct.Rename(h.ctx, tmp, d.FileName()); err != nil {
			t.Fatal(err)
		}
	}
	ct.Close()

	y := h.box("y")
	h.requireSameDisks(y, a, "")
	if grown := homeBytes(t, h.dir) - used; grown > 512<<10 {
		t.Fatalf("a byte copy equal to its source grew the home by %d bytes", grown)
	}
	h.requireClean()
}

func TestByteCopyWithOneDiskChangedStoresOnlyTheChange(t *testing.T) {
	h := newHome(t, Options{})
	a := cloneSource(h)
	changed := h.saveDisk(a, "", ContainerDisk)
	qemuIO(t, changed, "write -P 0x77 8M 1M")
	used := homeBytes(t, h.dir)

	ct := h.reserve("y")
	h.writeBoxJSON(ct, a)
	v := h.openDisk(a, "", GuestDisk)
	h.mustWriteFile(ct, "guest-rootfs.qcow2", io.NewSectionReader(v, 0, v.Size()))
	v.Close()
	f, err := os.Open(changed)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h.mustWriteFile(ct, "disk.qcow2", f)
	ct.Close()

	y := h.box("y")
	if g, w := h.digest(y, "", GuestDisk), h.digest(a, "", GuestDisk); g != w {
		t.Fatalf("unchanged guest disk: %s, source %s", g, w)
	}
	got := h.saveDisk(y, "", ContainerDisk)
	if !qemuCompare(t, got, changed) {
		t.Fatal("the clone's container disk is not the image that was written")
	}
	// 1 MiB differs; the source holds 6 MiB on that disk.
	grown := homeBytes(t, h.dir) - used
	t.Logf("1 MiB changed: the home grew by %d bytes", grown)
	if grown < 1<<20 || grown > 2<<20 {
		t.Fatalf("a copy with 1 MiB changed grew the home by %d bytes", grown)
	}
	h.requireClean()
}

// Copying something that is not a box fails and leaves no box.
func TestCopyOfSomethingElseIsInvalidAndLeavesNoBox(t *testing.T) {
	h := newHome(t, Options{})
	a := cloneSource(h)
	for what, copyIt := range map[string]func(ct *CloneTarget) error{
		"a directory":   func(ct *CloneTarget) error { return ct.Mkdir(h.ctx, "etc") },
		"a file":        func(ct *CloneTarget) error { return h.writeFile(ct, "passwd", bytes.NewReader([]byte("root:x:0:0\n"))) },
		"a nested file": func(ct *CloneTarget) error { return h.writeFile(ct, "settings/passwd", bytes.NewReader([]byte("x"))) },
		"a disk into a bad place": func(ct *CloneTarget) error {
			v := h.openDisk(a, "", ContainerDisk)
			defer v.Close()
			return ct.CopyFrom(h.ctx, "etc/disk.qcow2", v.Ref())
		},
	} {
		before := h.observe()
		ct := h.reserve("z")
		requireErr(t, copyIt(ct), errdefs.ErrInvalid, "copy of "+what)
		if _, err := h.rt.Box(h.ctx, "z"); err == nil {
			t.Fatalf("copy of %s left box z", what)
		}
		if names, _ := h.rt.CloneNames(h.ctx); slices.Contains(names, "z") {
			t.Fatalf("copy of %s left clones/z", what)
		}
		ct.Close()
		if after := h.observe(); !equalObserved(before, after) {
			t.Fatalf("copy of %s changed the home:\n%s\nwas\n%s", what, after, before)
		}
	}
	h.requireClean()
}

// Copying a box dir out of the mount and back restores it, even when the
// box it came from is gone by then.
func TestByteCopyBackOfARemovedBoxRestoresIt(t *testing.T) {
	h := newHome(t, Options{})
	a := cloneSource(h)
	info, err := a.Info(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	saved := map[Disk]string{}
	for _, d := range AllDisks() {
		saved[d] = h.saveDisk(a, "", d)
	}
	if err := h.rt.RemoveBox(h.ctx, "a"); err != nil {
		t.Fatal(err)
	}

	ct := h.reserve("a")
	body, _ := json.Marshal(info)
	h.mustWriteFile(ct, "box.json", bytes.NewReader(body))
	for _, d := range AllDisks() {
		f, err := os.Open(saved[d])
		if err != nil {
			t.Fatal(err)
		}
		h.mustWriteFile(ct, d.FileName(), f)
		f.Close()
	}
	ct.Close()

	back := h.box("a")
	for _, d := range AllDisks() {
		if !qemuCompare(t, h.saveDisk(back, "", d), saved[d]) {
			t.Fatalf("disk %s copied back differs from what was copied out", d)
		}
	}
	h.requireClean()
}

// SPEC 2.4: ten `cp -r` into clones/ at once all succeed, from a box's
// current state and from a snapshot.
func TestParallelCopiesIntoClonesAllSucceed(t *testing.T) {
	h := newHome(t, Options{})
	a := cloneSource(h)
	from := func(i int) string { return []string{"", "v1"}[i%2] }
	const copies = 10
	errs := parallel(copies, func(i int) error {
		ct, err := h.rt.ReserveClone(h.ctx, fmt.Sprintf("y%d", i))
		if err != nil {
			return err
		}
		defer ct.Close()
		for _, d := range AllDisks() {
			v, err := a.openView(h.ctx, from(i), d)
			if err != nil {
				return err
			}
			err = ct.CopyFrom(h.ctx, d.FileName(), v.Ref())
			v.Close()
			if err != nil {
				return err
			}
		}
		return nil
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("copy %d: %v", i, err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	for i := range copies {
		h.requireSameDisks(h.box(fmt.Sprintf("y%d", i)), a, from(i))
	}
	h.requireClean()
}
