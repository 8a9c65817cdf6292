package fstests

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestReaderKeepsItsView: a disk file open before a restore reads the state
// as of its open to the end, and fstat gives that state's size (SPEC 2.2).
func TestReaderKeepsItsView(t *testing.T) {
	m := newMount(t)
	m.ok("mkdir boxes/x && mkdir boxes/x/snapshots/v1")
	m.ok("qemu-io -c 'write -P 0xab 0 4M' " + m.activeDisk("x", "disk.qcow2"))
	m.ok("cp boxes/x/disk.qcow2 $T/before.qcow2")
	// Open, read a little, restore v1 from another process, read the rest.
	m.ok(`python3 - <<'EOF'
import os, subprocess
env = os.environ
f = open("boxes/x/disk.qcow2", "rb", buffering=0)
head = f.read(65536)
subprocess.run(["bash", "-c", "echo v1 > boxes/x/restore"], check=True)
size = os.fstat(f.fileno()).st_size
rest = f.read()
f.close()
assert size == len(head + rest), f"fstat of the open file says {size}, its view has {len(head + rest)} bytes"
with open(env["T"] + "/during.qcow2", "wb") as out:
    out.write(head + rest)
EOF`)
	m.ok("cmp $T/before.qcow2 $T/during.qcow2")
	// Once closed, stat gives the size of the disk as it is now: v1's.
	if a, b := m.ok("stat -c %s boxes/x/disk.qcow2"), m.ok("stat -c %s boxes/x/snapshots/v1/disk.qcow2"); a != b {
		t.Fatalf("after the restore the disk file is %s bytes, v1's disk %s", a, b)
	}
	if r := m.sh("qemu-img compare $T/before.qcow2 boxes/x/disk.qcow2"); r.code != 1 {
		t.Fatalf("after the restore the disk should be v1's: exit %d: %s", r.code, r.out)
	}
	m.ok("qemu-img compare boxes/x/snapshots/v1/disk.qcow2 boxes/x/disk.qcow2")
}

// TestCopyOutNeverExports: cp -r of a box directory copies what is listed,
// and no archive is generated (export.boxsnap is not listed).
func TestCopyOutNeverExports(t *testing.T) {
	m := newMount(t)
	m.ok("mkdir boxes/x && mkdir boxes/x/snapshots/v1")
	m.ok("cp -r boxes/x $T/out")
	got := lines(m.ok("cd $T/out && find . | sort"))
	want := []string{".", "./box.json", "./disk.qcow2", "./guest-rootfs.qcow2", "./restore", "./settings",
		"./snapshots", "./snapshots/v1", "./snapshots/v1/disk.qcow2", "./snapshots/v1/guest-rootfs.qcow2",
		"./snapshots/v1/snapshot.json", "./state"}
	for _, k := range lines(m.ok("ls boxes/x/settings")) {
		want = append(want, "./settings/"+k)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("cp -r copied\n%q\nwant\n%q", got, want)
	}
	if strings.Contains(m.ok("cat log"), "export") {
		t.Fatalf("an export ran during cp -r:\n%s", m.ok("cat log"))
	}
	m.ok("qemu-img compare $T/out/disk.qcow2 boxes/x/disk.qcow2")
	m.ok("test -e boxes/x/export.boxsnap && test -e boxes/x/snapshots/v1/export.boxsnap")
	m.refused("ls boxes/x/export.boxsnap/", "Not a directory")
}

// TestSettings round-trips every setting and refuses bad values (SPEC 2.5).
func TestSettings(t *testing.T) {
	m := newMount(t)
	m.ok("mkdir boxes/x")
	defaults := map[string]string{
		"snapshot.quiesce": "true", "snapshot.quiesce_timeout_secs": "30", "snapshot.stop_on_quiesce_fail": "true",
		"export.compress": "true", "export.compression_level": "3", "export.include_metadata": "true",
		"clone.cow": "true", "clone.start_after_clone": "false",
	}
	keys := lines(m.ok("ls boxes/x/settings"))
	if len(keys) != len(defaults) {
		t.Fatalf("settings %q", keys)
	}
	for _, k := range keys {
		if got := m.ok("cat boxes/x/settings/" + k); got != defaults[k]+"\n" {
			t.Errorf("%s = %q, want %q", k, got, defaults[k])
		}
	}
	m.ok("echo false > boxes/x/settings/snapshot.quiesce && printf 19 > boxes/x/settings/export.compression_level")
	m.ok("echo 120 | dd of=boxes/x/settings/snapshot.quiesce_timeout_secs conv=fsync status=none")
	// Any open file of the mount can be synced (it was EOPNOTSUPP).
	m.ok("sync boxes/x/box.json boxes/x/disk.qcow2 README")
	if got := m.ok("cat boxes/x/settings/snapshot.quiesce boxes/x/settings/export.compression_level boxes/x/settings/snapshot.quiesce_timeout_secs"); got != "false\n19\n120\n" {
		t.Fatalf("after writes: %q", got)
	}
	for _, bad := range []string{"echo maybe > boxes/x/settings/clone.cow", "echo 0 > boxes/x/settings/export.compression_level",
		"echo 23 > boxes/x/settings/export.compression_level", "echo -1 > boxes/x/settings/snapshot.quiesce_timeout_secs"} {
		m.refused(bad, "Invalid argument")
	}
	if got := m.ok("cat boxes/x/settings/clone.cow boxes/x/settings/export.compression_level"); got != "true\n19\n" {
		t.Fatalf("after bad values: %q", got)
	}
	// Settings persist across mounts.
	m.unmount()
	m2 := remount(t, m)
	if got := m2.ok("cat boxes/x/settings/export.compression_level"); got != "19\n" {
		t.Fatalf("after remount: %q", got)
	}
}

// TestManyBoxes: ls -l works with many boxes.
func TestManyBoxes(t *testing.T) {
	m := newMount(t)
	const n = 150
	m.ok(fmt.Sprintf("cd boxes && mkdir $(seq -f 'b%%03g' 1 %d)", n))
	out := lines(m.ok("ls -l boxes"))
	if len(out) != n+1 { // "total 0" first
		t.Fatalf("ls -l boxes: %d lines", len(out))
	}
	for _, l := range out[1:] {
		if !strings.HasPrefix(l, "drwxr-xr-x") {
			t.Fatalf("ls -l line %q", l)
		}
	}
	if got := len(lines(m.ok("ls boxes/b077"))); got != 7 {
		t.Fatalf("ls boxes/b077: %d entries", got)
	}
}

// TestOtherProcessShows: a box made by `boxlitefs create` on the mounted home
// appears in the mount, and one removed through the mount is gone for it.
func TestOtherProcessShows(t *testing.T) {
	m := newMount(t)
	m.ok("ls boxes") // let the kernel cache the empty listing and lookups
	m.ok("$BOXLITEFS create --home $H --size 64M outside")
	start := time.Now()
	waitFor(t, 3*time.Second, "the new box in ls", func() bool {
		return slices.Contains(lines(m.ok("ls boxes")), "outside")
	})
	t.Logf("showed after %v", time.Since(start))
	m.ok("cat boxes/outside/box.json >/dev/null && rmdir boxes/outside")
	if out := m.ok("$BOXLITEFS ls --home $H"); strings.Contains(out, "outside") {
		t.Fatalf("boxlitefs ls still shows the removed box:\n%s", out)
	}
}

// TestWorkingDirectorySurvives: a shell working inside a box directory keeps
// a valid working directory while the engine's events invalidate caches.
func TestWorkingDirectorySurvives(t *testing.T) {
	m := newMount(t)
	m.ok("mkdir boxes/x")
	out := m.ok(`cd boxes/x
mkdir snapshots/v1 && echo v1 > restore
"$BOXLITEFS" create --home "$H" --size 64M other >/dev/null
sleep 0.5 # past the home watcher's coalescing
/bin/pwd && ls snapshots`)
	if got := lines(out); len(got) != 2 || !strings.HasSuffix(got[0], "/boxes/x") || got[1] != "v1" {
		t.Fatalf("inside the box after events: %q", got)
	}
}
