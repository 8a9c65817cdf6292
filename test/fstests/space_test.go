package fstests

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// TestOutOfSpace fills a small home: writes of a disk image and of an
// archive fail with ENOSPC from the write that hits it, and nothing
// half-made is left behind (SPEC 2.1).
func TestOutOfSpace(t *testing.T) {
	requireFUSE(t)
	home := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", home).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs for the home: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", home).Run() })
	m := mountHome(t, home, t.TempDir(), t.TempDir())

	m.ok("mkdir boxes/x boxes/big")
	m.ok("head -c 64M /dev/urandom > $T/big.raw")
	m.refused("cp $T/big.raw boxes/x/disk.qcow2", "No space left on device")

	// An archive too big for the home: made in another home, imported here.
	m.ok("$BOXLITEFS create --home $T/other --size 64M big && mkdir $T/mnt2")
	m.ok("$BOXLITEFS mount --home $T/other $T/mnt2 && cp $T/big.raw $T/mnt2/boxes/big/disk.qcow2 && " +
		"cat $T/mnt2/boxes/big/export.boxsnap > $T/big.boxsnap; $BOXLITEFS umount $T/mnt2")
	m.refused("cp $T/big.boxsnap import/huge.boxsnap", "No space left on device")

	if got := lines(m.ok("ls boxes; ls -A import")); !slices.Equal(got, []string{"big", "x"}) {
		t.Fatalf("after ENOSPC: %q", got)
	}
	staging, err := os.ReadDir(filepath.Join(home, "tmp"))
	if err != nil || len(staging) != 0 {
		t.Fatalf("staging left in the home's tmp/: %v %v", staging, err)
	}
	m.ok("qemu-img check boxes/x/disk.qcow2")
	// Once there is room again, the same write works.
	m.ok("rmdir boxes/big && head -c 16M $T/big.raw > $T/small.raw && cp $T/small.raw boxes/x/disk.qcow2")
	m.ok("qemu-img compare -f raw $T/small.raw boxes/x/disk.qcow2")
}
