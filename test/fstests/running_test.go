package fstests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestRunningBox starts a box in a VM through its state file and walks the
// rows of SPEC 2.1 and 2.6 that need one: restore and remove of a running
// box are EBUSY, and a snapshot of it is quiesced (SPEC 2.7). It needs the
// guest assets that `make guest` builds; without them it is skipped.
func TestRunningBox(t *testing.T) {
	guest, err := filepath.Abs(filepath.Join("..", "..", "bin", "guest"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(guest, "initrd.img")); err != nil {
		t.Skipf("no guest assets in %s (make guest builds them)", guest)
	}
	t.Setenv("BOXLITE_GUEST_DIR", guest)
	m := newMount(t)
	m.ok("mkdir boxes/x && mkdir boxes/x/snapshots/v1")
	if r := m.sh("echo running > boxes/x/state"); r.code != 0 {
		t.Skipf("this machine cannot boot a box: %s", r.out)
	}
	t.Cleanup(func() { m.sh("echo stopped > boxes/x/state") })
	if got := m.ok("cat boxes/x/state"); got != "running\n" {
		t.Fatalf("state = %q", got)
	}
	// stat never captures a running box: only open does (each capture adds
	// a layer per disk).
	layers := m.ok("find $H/bases -type f | sort")
	m.ok("stat boxes/x/disk.qcow2 boxes/x/guest-rootfs.qcow2 && ls -l boxes/x >/dev/null && stat boxes/x/disk.qcow2")
	if after := m.ok("find $H/bases -type f | sort"); after != layers {
		t.Fatalf("stat of a running box's disks made layers:\nbefore:\n%safter:\n%s", layers, after)
	}
	m.refused("rmdir boxes/x", "rmdir: failed to remove 'boxes/x': Device or resource busy")
	m.refused("echo v1 > boxes/x/restore", "Device or resource busy")
	m.refused("rmdir boxes/x/snapshots/v1", "Device or resource busy")

	m.ok("mkdir boxes/x/snapshots/live")
	var snap struct {
		Consistency string `json:"consistency"`
	}
	if err := json.Unmarshal([]byte(m.ok("cat boxes/x/snapshots/live/snapshot.json")), &snap); err != nil {
		t.Fatal(err)
	}
	if snap.Consistency != "quiesced" {
		t.Errorf("a running box's snapshot is %q, want quiesced", snap.Consistency)
	}
	// Reads of a running box see a point-in-time view QEMU's tools accept.
	m.ok("qemu-img check boxes/x/disk.qcow2 && qemu-img check boxes/x/snapshots/live/disk.qcow2")
	m.ok("tar -I zstd -tf boxes/x/export.boxsnap >/dev/null")

	m.ok("echo stopped > boxes/x/state")
	if got := m.ok("cat boxes/x/state"); got != "stopped\n" {
		t.Fatalf("state after stop = %q", got)
	}
	m.ok("echo v1 > boxes/x/restore && rmdir boxes/x")
}
