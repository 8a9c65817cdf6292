package snapshot

import (
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
)

// Bring your own disk (SPEC 2.2): a whole image written into a stopped
// box's disk replaces it; copy_file_range between disk files shares layers.

// makeImage writes a standalone image of the given format and size with a
// pattern at 1 MiB, using qemu-img and qemu-io.
func makeImage(t *testing.T, format string, size int64, pattern byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "image."+format)
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", format, path, strconv.FormatInt(size, 10)).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v\n%s", err, out)
	}
	cmd := exec.Command("qemu-io", "-f", format, "-c", "write -P "+strconv.Itoa(int(pattern))+" 1M 1M", path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("qemu-io: %v\n%s", err, out)
	}
	return path
}

func TestWrittenImageReplacesTheDisk(t *testing.T) {
	h := newHome(t, Options{})
	a := h.createBox("a")
	h.write(a, ContainerDisk, 0x11, 0, 1<<20)
	h.snapshot(a, "v1")
	v1 := h.saveDisk(a, "v1", ContainerDisk)

	for _, c := range []struct {
		format string
		size   int64
	}{{"qcow2", 128 << 20}, {"raw", 32 << 20}} {
		image := makeImage(t, c.format, c.size, 0x5e)
		if err := writeDisk(h.ctx, a, ContainerDisk, image); err != nil {
			t.Fatalf("write a %s image: %v", c.format, err)
		}
		got := h.saveDisk(a, "", ContainerDisk)
		qemuCheck(t, got)
		if !qemuCompare(t, got, image) {
			t.Fatalf("the disk is not the %s image that was written", c.format)
		}
		if info, _ := a.Info(h.ctx); info.ContainerDiskSize != c.size {
			t.Fatalf("disk size after a %d-byte %s image: %d", c.size, c.format, info.ContainerDiskSize)
		}
	}
	// The snapshot taken before is untouched, and restoring it brings back
	// its size too.
	if !qemuCompare(t, h.saveDisk(a, "v1", ContainerDisk), v1) {
		t.Fatal("replacing the disk changed a snapshot")
	}
	if err := a.Snapshots().Restore(h.ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	if info, _ := a.Info(h.ctx); info.ContainerDiskSize != testDiskSize {
		t.Fatalf("disk size after restoring v1: %d", info.ContainerDiskSize)
	}
	if !qemuCompare(t, h.saveDisk(a, "", ContainerDisk), v1) {
		t.Fatal("restore after a replaced disk does not give the snapshot")
	}
	h.requireClean()
}

func TestAdoptedDiskIsACopyOnWriteCopy(t *testing.T) {
	h := newHome(t, Options{})
	a := h.createBox("a")
	b := h.createBox("b")
	h.write(a, ContainerDisk, 0x11, 0, 2<<20)
	h.snapshot(a, "v1")
	h.write(a, ContainerDisk, 0x22, 0, 1<<20)

	for _, from := range []string{"v1", ""} {
		v := h.openDisk(a, from, ContainerDisk)
		err := b.AdoptDisk(h.ctx, ContainerDisk, v.Ref())
		v.Close()
		if err != nil {
			t.Fatalf("adopt a's disk (snapshot %q): %v", from, err)
		}
		if g, w := h.digest(b, "", ContainerDisk), h.digest(a, from, ContainerDisk); g != w {
			t.Fatalf("adopted disk (snapshot %q): %s, source %s", from, g, w)
		}
	}
	if g, w := h.digest(b, "", GuestDisk), h.digest(a, "", GuestDisk); g != w {
		t.Fatal("adopting one disk changed the other")
	}
	h.write(b, ContainerDisk, 0xbb, 0, 1<<20)
	if !h.reads(a, ContainerDisk, 0x22, 0, 1<<20) {
		t.Fatal("a write to the adopted disk shows on its source")
	}
	h.requireClean()
}

func TestSettingsPersistAndFollowClones(t *testing.T) {
	h := newHome(t, Options{})
	a := h.createBox("a")
	if s, _ := a.Settings(h.ctx); !reflect.DeepEqual(s, DefaultSettings()) {
		t.Fatalf("a new box's settings: %+v, want the defaults", s)
	}
	for key, value := range map[string]string{
		"snapshot.quiesce_timeout_secs": "5\n", // as echo writes it
		"export.compress":               "false",
		"clone.start_after_clone":       "no",
	} {
		if err := a.SetSetting(h.ctx, key, value); err != nil {
			t.Fatalf("set %s: %v", key, err)
		}
	}
	h.reopen()
	a = h.box("a")
	s, _ := a.Settings(h.ctx)
	if s.Snapshot.QuiesceTimeoutSecs != 5 || s.Export.Compress || s.Clone.StartAfterClone {
		t.Fatalf("settings after reopening: %+v", s)
	}
	if got, _ := s.Get("export.compress"); got != "false" {
		t.Fatalf("export.compress reads %q", got)
	}
	c := h.clone(a, "c", "")
	if cs, _ := c.Settings(h.ctx); !reflect.DeepEqual(cs, s) {
		t.Fatalf("a clone's settings: %+v, its source's %+v", cs, s)
	}
}

func TestRenamedBoxKeepsEverything(t *testing.T) {
	h := newHome(t, Options{})
	a := h.createBox("a")
	h.write(a, ContainerDisk, 0x11, 0, 1<<20)
	h.snapshot(a, "v1")
	before := h.observe()["a"]
	if err := h.rt.RenameBox(h.ctx, "a", "renamed"); err != nil {
		t.Fatal(err)
	}
	after := h.observe()
	if _, ok := after["a"]; ok {
		t.Fatal("the old name is still there")
	}
	if !equalObserved(observed{"x": before}, observed{"x": after["renamed"]}) {
		t.Fatalf("renaming changed the box:\n%v\nwas\n%v", after["renamed"], before)
	}
	// A handle names the box by id: it follows the rename.
	if info, err := a.Info(h.ctx); err != nil || info.Name != "renamed" {
		t.Fatalf("the old handle after a rename: %+v, %v", info, err)
	}
	h.createBox("a") // the old name is free
	h.requireClean()
}
