package fstests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBringYourOwnDisk writes whole images into a stopped box's disk file:
// a qcow2 with cp, a raw image with cat, and a bad image that is refused
// and changes nothing (SPEC 2.2).
func TestBringYourOwnDisk(t *testing.T) {
	m := newMount(t)
	m.ok("mkdir boxes/x")
	m.ok("qemu-img create -f qcow2 $T/img.qcow2 64M >/dev/null && qemu-io -c 'write -P 0xab 0 1M' -c 'write -P 0xcd 32M 64k' $T/img.qcow2 >/dev/null")
	m.ok("cp $T/img.qcow2 boxes/x/disk.qcow2")
	m.ok("qemu-img compare $T/img.qcow2 boxes/x/disk.qcow2")
	// dd syncs what it wrote before it closes (fsync was EOPNOTSUPP).
	m.ok("dd if=$T/img.qcow2 of=boxes/x/disk.qcow2 bs=1M conv=fsync status=none")
	m.ok("qemu-img compare $T/img.qcow2 boxes/x/disk.qcow2")
	if got := m.ok("grep -o '\"container_disk_size\": [0-9]*' boxes/x/box.json"); got != "\"container_disk_size\": 67108864\n" {
		t.Fatalf("box.json after the new disk: %q", got)
	}

	// A raw image, sparse, through a shell redirection.
	m.ok("truncate -s 32M $T/raw.img && printf 'hello raw' | dd of=$T/raw.img bs=1 seek=1048576 conv=notrunc status=none")
	m.ok("cat $T/raw.img > boxes/x/guest-rootfs.qcow2")
	m.ok("qemu-img compare -f raw $T/raw.img boxes/x/guest-rootfs.qcow2")
	// cp of a sparse raw image seeks over holes; they read as zeros.
	m.ok("cp --sparse=always $T/raw.img boxes/x/guest-rootfs.qcow2")
	m.ok("qemu-img compare -f raw $T/raw.img boxes/x/guest-rootfs.qcow2")
	// An all-zero raw image is one hole: cp only truncates to its size.
	m.ok("truncate -s 16M $T/zero.img && cp --sparse=always $T/zero.img boxes/x/guest-rootfs.qcow2")
	m.ok("qemu-img compare -f raw $T/zero.img boxes/x/guest-rootfs.qcow2")

	// A bad image is refused at close (cp reports it) and changes nothing.
	m.ok("cp boxes/x/disk.qcow2 $T/kept.qcow2")
	m.ok("head -c 200000 $T/img.qcow2 > $T/short.qcow2")
	m.refused("cp $T/short.qcow2 boxes/x/disk.qcow2", "Bad message")
	m.ok("qemu-img compare $T/kept.qcow2 boxes/x/disk.qcow2")
	m.ok("qemu-img check boxes/x/disk.qcow2")
}

// TestCopyByReference: cp between disk files of the mount goes through
// copy_file_range and replaces the disk by reference, from a box or from a
// snapshot (SPEC 2.2).
func TestCopyByReference(t *testing.T) {
	m := newMount(t)
	m.ok("mkdir boxes/x boxes/y")
	m.ok("qemu-io -c 'write -P 0xab 0 2M' " + m.activeDisk("x", "disk.qcow2"))
	m.ok("mkdir boxes/x/snapshots/v1")
	m.ok("qemu-io -c 'write -P 0xcd 0 2M' " + m.activeDisk("x", "disk.qcow2"))

	m.ok("cp boxes/x/disk.qcow2 boxes/y/disk.qcow2")
	m.ok("qemu-img compare boxes/x/disk.qcow2 boxes/y/disk.qcow2")
	m.ok("cp boxes/x/snapshots/v1/disk.qcow2 boxes/y/guest-rootfs.qcow2")
	m.ok("qemu-img compare boxes/x/snapshots/v1/disk.qcow2 boxes/y/guest-rootfs.qcow2")
	if n := strings.Count(m.ok("cat log"), "copy by reference"); n != 2 {
		t.Fatalf("%d copies by reference, want 2:\n%s", n, m.ok("cat log"))
	}
	// The two boxes do not see each other's later writes.
	m.ok("qemu-io -c 'write -P 0x11 0 64k' " + m.activeDisk("y", "disk.qcow2"))
	m.ok("qemu-io -r -c 'read -P 0xcd 0 2M' boxes/x/disk.qcow2")
	m.ok("qemu-io -r -c 'read -P 0x11 0 64k' boxes/y/disk.qcow2")
}

// TestForegroundMount: mount -f serves until SIGTERM, then unmounts cleanly.
func TestForegroundMount(t *testing.T) {
	requireFUSE(t)
	home, dir := t.TempDir(), t.TempDir()
	cmd := exec.Command(binary, "mount", "-f", "--home", home, dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			exec.Command(binary, "umount", dir).Run()
			<-done
		}
	})
	waitFor(t, 10*time.Second, "the foreground mount", func() bool {
		_, err := os.Stat(filepath.Join(dir, "README"))
		return err == nil
	})
	if err := os.Mkdir(filepath.Join(dir, "boxes", "f"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("mount -f after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("mount -f did not exit after SIGTERM")
	}
	if _, err := os.Stat(filepath.Join(dir, "README")); err == nil {
		t.Fatal("still mounted after SIGTERM")
	}
	if !strings.Contains(stderr.String(), "unmounted") {
		t.Errorf("stderr: %s", stderr.String())
	}
	out, err := exec.Command(binary, "ls", "--home", home).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "f ") {
		t.Fatalf("boxlitefs ls after the mount: %v: %s", err, out)
	}
}
