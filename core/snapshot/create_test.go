package snapshot

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Boxes whose disks stand alone (no frozen layer under the active one): a
// box made from a directory, and a full copy (cow=false).

func TestBoxFromADirectoryHoldsItsFiles(t *testing.T) {
	h := newHome(t, Options{})
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "etc", "hello.txt"), []byte("hello from a directory\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := h.rt.CreateBox(h.ctx, "d", CreateOptions{DiskSize: testDiskSize, FromDir: src})
	if err != nil {
		t.Fatal(err)
	}
	if info.Origin == nil || info.Origin.Kind != "directory" {
		t.Fatalf("origin: %+v", info.Origin)
	}
	d := h.box("d")
	if got := ext4File(t, h.saveDisk(d, "", ContainerDisk), "/etc/hello.txt"); got != "hello from a directory\n" {
		t.Fatalf("/etc/hello.txt on the disk: %q", got)
	}
	// It snapshots, clones and restores like any box.
	h.snapshot(d, "v1")
	c := h.clone(d, "c", "v1")
	if got := ext4File(t, h.saveDisk(c, "", ContainerDisk), "/etc/hello.txt"); got != "hello from a directory\n" {
		t.Fatalf("/etc/hello.txt on the clone: %q", got)
	}
	h.requireClean()
}

func TestFullCopyCloneStandsAlone(t *testing.T) {
	h := newHome(t, Options{})
	a := h.createBox("a")
	h.write(a, ContainerDisk, 0x11, 0, 2<<20)
	h.write(a, GuestDisk, 0x12, 0, 1<<20)
	opts := DefaultCloneOptions()
	opts.COW = false
	if _, err := a.Clone(h.ctx, "full", opts); err != nil {
		t.Fatal(err)
	}
	full := h.box("full")
	for _, d := range AllDisks() {
		if backing := backingOf(t, h.active(full, d)); backing != "" {
			t.Fatalf("disk %s of a cow=false clone is on %q", d, backing)
		}
		if g, w := h.digest(full, "", d), h.digest(a, "", d); g != w {
			t.Fatalf("disk %s of a cow=false clone: %s, source %s", d, g, w)
		}
	}
	// Removing every other box leaves it whole.
	if err := h.rt.RemoveBox(h.ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if !h.reads(full, ContainerDisk, 0x11, 0, 2<<20) {
		t.Fatal("the full copy lost data with its source")
	}
	h.requireClean()
}

// ext4File reads one file from the ext4 filesystem in a qcow2 image, with
// qemu-img and debugfs as the oracle.
func ext4File(t *testing.T, image, path string) string {
	t.Helper()
	raw := image + ".raw"
	if out, err := exec.Command("qemu-img", "convert", "-O", "raw", image, raw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v\n%s", err, out)
	}
	defer os.Remove(raw)
	out, err := exec.Command("debugfs", "-R", "cat "+path, raw).Output()
	if err != nil {
		t.Fatalf("debugfs cat %s: %v", path, err)
	}
	return string(out)
}
