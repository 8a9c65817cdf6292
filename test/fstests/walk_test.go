package fstests

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestSpecWalk follows SPEC 2 from an empty home: boxes, snapshots, data
// written between them, restore, rename, remove, and disk files that QEMU's
// tools accept in place and after a copy.
func TestSpecWalk(t *testing.T) {
	m := newMount(t)
	m.ok("mkdir boxes/x")
	if got := lines(m.ok("ls boxes")); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("ls boxes = %q", got)
	}
	want := []string{"box.json", "disk.qcow2", "guest-rootfs.qcow2", "restore", "settings", "snapshots", "state"}
	if got := lines(m.ok("ls boxes/x")); !slices.Equal(got, want) {
		t.Fatalf("ls boxes/x = %q, want %q (export.boxsnap is not listed)", got, want)
	}
	if info := m.boxInfo("x"); info.Name != "x" || info.Status != "stopped" || info.ID == "" {
		t.Fatalf("box.json = %+v", info)
	}
	if got := m.ok("cat boxes/x/state"); got != "stopped\n" {
		t.Fatalf("state = %q", got)
	}
	if got := m.ok("cat boxes/x/restore"); got != "" {
		t.Fatalf("restore reads %q, want empty", got)
	}

	// v1: the empty disk. Then data, v2, then more data.
	m.ok("mkdir boxes/x/snapshots/v1")
	var snap struct {
		Name        string `json:"name"`
		Consistency string `json:"consistency"`
	}
	if err := json.Unmarshal([]byte(m.ok("cat boxes/x/snapshots/v1/snapshot.json")), &snap); err != nil {
		t.Fatal(err)
	}
	if snap.Name != "v1" || snap.Consistency != "clean" {
		t.Fatalf("snapshot.json = %+v", snap)
	}
	if got := lines(m.ok("ls boxes/x/snapshots/v1")); !slices.Equal(got, []string{"disk.qcow2", "guest-rootfs.qcow2", "snapshot.json"}) {
		t.Fatalf("ls snapshots/v1 = %q", got)
	}
	m.ok("cp boxes/x/disk.qcow2 $T/v1.qcow2")
	active := m.activeDisk("x", "disk.qcow2")
	m.ok("qemu-io -c 'write -P 0xab 0 1M' " + active)
	m.ok("qemu-io -r -c 'read -P 0xab 0 1M' boxes/x/disk.qcow2")
	if r := m.sh("qemu-img compare $T/v1.qcow2 boxes/x/disk.qcow2"); r.code != 1 {
		t.Fatalf("after a write, compare with v1: exit %d: %s", r.code, r.out)
	}
	m.ok("mkdir boxes/x/snapshots/v2")
	m.ok("cp boxes/x/disk.qcow2 $T/v2.qcow2")
	m.ok("qemu-io -c 'write -P 0xcd 1M 1M' " + active)
	m.ok("qemu-io -r -c 'read -P 0xcd 1M 1M' boxes/x/disk.qcow2")

	// Restore with and without a trailing newline.
	m.ok("echo v1 > boxes/x/restore")
	m.ok("qemu-img compare $T/v1.qcow2 boxes/x/disk.qcow2")
	m.ok("printf v2 > boxes/x/restore")
	m.ok("qemu-img compare $T/v2.qcow2 boxes/x/disk.qcow2")
	m.ok("printf v1 > boxes/x/restore")
	m.ok("qemu-img compare $T/v1.qcow2 boxes/x/disk.qcow2")

	// Snapshot disks stay what they were.
	m.ok("qemu-io -r -c 'read -P 0xab 0 1M' boxes/x/snapshots/v2/disk.qcow2")
	m.ok("qemu-img compare $T/v1.qcow2 boxes/x/snapshots/v1/disk.qcow2")

	// Disk files are standalone images QEMU's tools accept in place and
	// after a copy.
	for _, disk := range []string{"disk.qcow2", "guest-rootfs.qcow2", "snapshots/v2/disk.qcow2"} {
		m.ok("qemu-img check boxes/x/" + disk)
		info := m.ok("qemu-img info --output=json boxes/x/" + disk)
		if strings.Contains(info, "backing-filename") {
			t.Fatalf("%s has a backing file: %s", disk, info)
		}
		m.ok("cp boxes/x/" + disk + " $T/copy.qcow2 && qemu-img compare $T/copy.qcow2 boxes/x/" + disk + " && qemu-img check $T/copy.qcow2")
	}
	// The same state gives the same bytes every time.
	m.ok("cmp boxes/x/snapshots/v2/disk.qcow2 boxes/x/snapshots/v2/disk.qcow2")
	m.ok("cat boxes/x/disk.qcow2 > $T/a && cat boxes/x/disk.qcow2 > $T/b && cmp $T/a $T/b")
	if got, want := m.ok("stat -c %s boxes/x/disk.qcow2"), m.ok("stat -c %s $T/a"); got != want {
		t.Fatalf("st_size %s, bytes read %s", got, want)
	}

	// rmdir and mv of snapshots and boxes.
	m.ok("rmdir boxes/x/snapshots/v2")
	m.ok("mv boxes/x/snapshots/v1 boxes/x/snapshots/first")
	if got := lines(m.ok("ls boxes/x/snapshots")); !slices.Equal(got, []string{"first"}) {
		t.Fatalf("ls snapshots = %q", got)
	}
	m.ok("qemu-img compare $T/v1.qcow2 boxes/x/snapshots/first/disk.qcow2")
	m.ok("grep -q '\"name\": \"first\"' boxes/x/snapshots/first/snapshot.json")
	m.ok("mv boxes/x boxes/z")
	if got := lines(m.ok("ls boxes")); !slices.Equal(got, []string{"z"}) {
		t.Fatalf("ls boxes after mv = %q", got)
	}
	m.ok("printf first > boxes/z/restore")
	m.ok("rmdir boxes/z")
	if got := m.ok("ls boxes"); got != "" {
		t.Fatalf("ls boxes after rmdir = %q", got)
	}
	m.ok("grep -q 'rmdir boxes/z: ok' log")
}

// TestFsckAfterUse checks the home after a walk through the mount: the
// command's fsck finds it clean.
func TestFsckAfterUse(t *testing.T) {
	m := newMount(t)
	m.ok("mkdir boxes/a boxes/b && mkdir boxes/a/snapshots/s1 && echo s1 > boxes/a/restore && rmdir boxes/b")
	m.ok("cat boxes/a/export.boxsnap > $T/a.boxsnap && cp $T/a.boxsnap import/c.boxsnap")
	m.unmount()
	out := m.ok("$BOXLITEFS fsck --home $H")
	if !strings.Contains(out, "clean") || strings.Contains(out, "unclean") {
		t.Fatalf("fsck: %s", out)
	}
	// The home mounts again with what it had.
	m2 := remount(t, m)
	if got := lines(m2.ok("ls boxes")); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("ls boxes after remount = %q", got)
	}
}
