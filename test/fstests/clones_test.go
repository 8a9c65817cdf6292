package fstests

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Clones through clones/ (SPEC 2.4), made by the tools users have: cp -r
// (copy_file_range), Python's shutil and rsync (bytes), and a copy of a box
// directory that went out of the mount and comes back.

var disks = []string{"guest-rootfs.qcow2", "disk.qcow2"}

// cloneSource makes box x with data on both disks, and snapshots v1 and v2
// between writes to its container disk; chunk is the size of each write.
func cloneSource(m *mount, chunk string) {
	m.t.Helper()
	m.ok("mkdir boxes/x")
	disk := m.activeDisk("x", "disk.qcow2")
	m.ok(qemuWrite(m.activeDisk("x", "guest-rootfs.qcow2"), 0x12, "0", chunk))
	m.ok(qemuWrite(disk, 0xab, "0", chunk))
	m.ok("mkdir boxes/x/snapshots/v1")
	m.ok(qemuWrite(disk, 0xcd, "64M", chunk))
	m.ok("mkdir boxes/x/snapshots/v2")
	m.ok(qemuWrite(disk, 0xef, "128M", chunk))
}

// qemuWrite is a script that writes pattern over length bytes at off of an
// image, as a guest would.
func qemuWrite(image string, pattern int, off, length string) string {
	return fmt.Sprintf("qemu-io -c 'write -P 0x%x %s %s' %s >/dev/null", pattern, off, length, image)
}

// requireSameDisks checks that the box or snapshot directories a and b of
// the mount hold the same disks, byte for byte as images.
func requireSameDisks(m *mount, a, b string) {
	m.t.Helper()
	for _, d := range disks {
		m.ok("qemu-img compare -q " + a + "/" + d + " " + b + "/" + d)
	}
}

// requireListing checks what ls prints for dir.
func requireListing(m *mount, dir string, want ...string) {
	m.t.Helper()
	if got := lines(m.ok("ls " + dir)); !slices.Equal(got, want) {
		m.t.Fatalf("ls %s = %q, want %q", dir, got, want)
	}
}

// requireCloneOf checks box.json's origin of a clone.
func requireCloneOf(m *mount, name, box, snapshot string) {
	m.t.Helper()
	o := m.boxInfo(name).Origin
	if o == nil || o.Kind != "clone" || o.Box != box || o.Snapshot != snapshot {
		m.t.Fatalf("origin of %s: %+v, want a clone of %s (snapshot %q)", name, o, box, snapshot)
	}
}

// storedBytes is what the files below dir occupy on disk, each file
// counted once however many links it has.
func storedBytes(t *testing.T, dir string) int64 {
	t.Helper()
	seen := map[uint64]bool{}
	var total int64
	err := filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if !fi.IsDir() && !seen[st.Ino] {
			seen[st.Ino] = true
			total += st.Blocks * 512
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

// layerBytes is what the disk layers of m's home occupy: boxes/ and
// bases/ together, since cloning a box's current state moves its active
// layer from one to the other.
func layerBytes(t *testing.T, m *mount) int64 {
	t.Helper()
	return storedBytes(t, filepath.Join(m.home, "boxes")) + storedBytes(t, filepath.Join(m.home, "bases"))
}

// requireFsckClean unmounts m and checks its home with the command's fsck.
func requireFsckClean(m *mount) {
	m.t.Helper()
	m.unmount()
	if out := m.ok("$BOXLITEFS fsck --home $H"); !strings.Contains(out, "clean") || strings.Contains(out, "unclean") {
		m.t.Fatalf("fsck: %s", out)
	}
}

// TestCloneWithCp: cp -r of a box into clones/ makes a COW clone with the
// box's snapshots, sharing every layer; once the copy is over clones/y is
// boxes/y; mv renames it and rmdir removes it.
func TestCloneWithCp(t *testing.T) {
	m := newMount(t)
	cloneSource(m, "4M")
	before := layerBytes(t, m)

	m.ok("cp -r boxes/x clones/y")
	requireListing(m, "boxes", "x", "y")
	requireListing(m, "clones", "y")
	requireCloneOf(m, "y", "x", "")
	requireSameDisks(m, "boxes/x", "boxes/y")
	requireSameDisks(m, "boxes/x", "clones/y")
	// While the copy settles, its files read as what the box holds there.
	m.ok("cd clones/y && for f in box.json state settings/clone.cow snapshots/v1/snapshot.json; do cmp $f ../../boxes/y/$f; done")
	requireListing(m, "boxes/y/snapshots", "v1", "v2")
	for _, s := range []string{"v1", "v2"} {
		requireSameDisks(m, "boxes/x/snapshots/"+s, "boxes/y/snapshots/"+s)
	}
	grown := layerBytes(t, m) - before
	t.Logf("the clone with two snapshots grew the layers by %d bytes", grown)
	if grown > 1<<20 {
		t.Fatalf("the layers grew by %d bytes: they were copied, not shared", grown)
	}
	if n := strings.Count(m.ok("cat log"), "copy by reference clones/y/"); n != 6 {
		t.Fatalf("%d copies by reference into clones/y, want 6 (two disks, three states)", n)
	}

	// Later writes on either side do not show on the other.
	m.ok(qemuWrite(m.activeDisk("y", "disk.qcow2"), 0x77, "0", "64k"))
	m.ok(qemuWrite(m.activeDisk("x", "disk.qcow2"), 0x88, "128M", "64k"))
	m.ok("qemu-io -r -c 'read -P 0xab 0 64k' boxes/x/disk.qcow2")
	m.ok("qemu-io -r -c 'read -P 0xef 128M 64k' boxes/y/disk.qcow2")
	m.ok("qemu-io -r -c 'read -P 0x77 0 64k' boxes/y/disk.qcow2")
	m.ok("qemu-io -r -c 'read -P 0x88 128M 64k' boxes/x/disk.qcow2")

	// Once the copy is over, clones/y is the box itself: what is done
	// through boxes/y shows there, and its files are the same inodes.
	m.ok("mkdir boxes/y/snapshots/v3")
	waitFor(t, 15*time.Second, "clones/y to show the box", func() bool {
		return slices.Contains(lines(m.ok("ls clones/y/snapshots")), "v3")
	})
	for _, f := range []string{"box.json", "disk.qcow2", "snapshots/v3/disk.qcow2"} {
		if a, b := m.ok("stat -c %i boxes/y/"+f), m.ok("stat -c %i clones/y/"+f); a != b {
			t.Fatalf("%s: inode %s in boxes/y, %s in clones/y", f, a, b)
		}
	}
	requireSameDisks(m, "boxes/y/snapshots/v3", "clones/y/snapshots/v3")

	m.ok("mv clones/y clones/z")
	requireListing(m, "boxes", "x", "z")
	requireListing(m, "clones", "z")
	m.ok("rmdir clones/z")
	requireListing(m, "boxes", "x")
	requireListing(m, "clones")
	m.ok("qemu-img check boxes/x/disk.qcow2 && qemu-io -r -c 'read -P 0xab 0 64k' boxes/x/disk.qcow2")
	requireFsckClean(m)
}

// TestCloneOfASnapshotAndInParallel: cp -r of a snapshot directory clones
// that snapshot; ten cp -r at once, of the box and of a snapshot, all
// succeed.
func TestCloneOfASnapshotAndInParallel(t *testing.T) {
	m := newMount(t)
	cloneSource(m, "1M")
	m.ok("cp -r boxes/x/snapshots/v1 clones/w1")
	requireCloneOf(m, "w1", "x", "v1")
	requireSameDisks(m, "boxes/x/snapshots/v1", "boxes/w1")
	requireListing(m, "boxes/w1/snapshots")

	out := m.sh(`
for i in 0 1 2 3 4; do
	cp -r boxes/x clones/c$i &
	cp -r boxes/x/snapshots/v2 clones/c$((i+5)) &
done
wait`).out
	if out != "" {
		t.Fatalf("parallel copies: %s", out)
	}
	for i := range 10 {
		from := "boxes/x"
		if i >= 5 {
			from = "boxes/x/snapshots/v2"
		}
		requireSameDisks(m, from, fmt.Sprintf("boxes/c%d", i))
	}
	requireListing(m, "clones", "c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "w1")
	requireFsckClean(m)
}

// TestCloneTimeDoesNotGrowWithData: a box with 1 GiB written on a 10 GiB
// disk clones in about the time of an empty one. The times are logged;
// only a generous bound is checked (speed is measured in bench/).
func TestCloneTimeDoesNotGrowWithData(t *testing.T) {
	m := newMount(t)
	m.ok("mkdir boxes/empty boxes/big")
	if got := m.ok("grep -o '\"container_disk_size\": [0-9]*' boxes/big/box.json"); got != "\"container_disk_size\": 10737418240\n" {
		t.Fatalf("a new box's container disk: %q, want 10 GiB", got)
	}
	m.ok(qemuWrite(m.activeDisk("big", "disk.qcow2"), 0x5a, "0", "1G"))
	timed := func(script string) time.Duration {
		start := time.Now()
		m.ok(script)
		return time.Since(start)
	}
	empty := timed("cp -r boxes/empty clones/empty2")
	big := timed("cp -r boxes/big clones/big2")
	t.Logf("cp -r into clones/: %v for an empty box, %v for one with 1 GiB written", empty, big)
	if big > 2*time.Second {
		t.Fatalf("cloning a box with 1 GiB written took %v", big)
	}
	m.ok("qemu-io -r -c 'read -P 0x5a 1023M 1M' boxes/big2/disk.qcow2")
}

// TestCloneWithByteCopyingTools: Python's shutil.copytree and rsync write
// bytes instead of copy_file_range; they still make correct clones, which
// store almost nothing of their own.
func TestCloneWithByteCopyingTools(t *testing.T) {
	m := newMount(t)
	cloneSource(m, "16M")
	before := layerBytes(t, m)

	m.ok(`python3 -c 'import shutil; shutil.copytree("boxes/x", "clones/p")'`)
	m.ok("rsync -r boxes/x/ clones/r/")
	for _, c := range []string{"p", "r"} {
		requireCloneOf(m, c, "x", "")
		requireSameDisks(m, "boxes/x", "boxes/"+c)
		requireListing(m, "boxes/"+c+"/snapshots", "v1", "v2")
		for _, s := range []string{"v1", "v2"} {
			requireSameDisks(m, "boxes/x/snapshots/"+s, "boxes/"+c+"/snapshots/"+s)
		}
	}
	grown := layerBytes(t, m) - before
	t.Logf("two byte-copied clones of a box holding 64 MiB grew the home by %d bytes", grown)
	if grown > 4<<20 {
		t.Fatalf("byte-copied clones grew the home by %d bytes: they store data of their own", grown)
	}
	requireFsckClean(m)
}

// TestCopyOutAndBack: a box directory copied out of the mount and back
// into clones/ restores the box as it was copied out: disks, snapshots and
// settings. Whatever order the copy takes (ext4 lists a directory in hash
// order), it is a clone of the box it came from, storing what differs.
func TestCopyOutAndBack(t *testing.T) {
	m := newMount(t)
	cloneSource(m, "4M")
	m.ok("echo 7 > boxes/x/settings/export.compression_level && echo false > boxes/x/settings/export.compress")
	m.ok("cp -r boxes/x $T/out")
	m.ok(qemuWrite(m.activeDisk("x", "disk.qcow2"), 0x99, "0", "1M")) // x moves on

	m.ok("cp -r $T/out clones/back")
	before := layerBytes(t, m)
	m.ok("mkdir clones/disks-first && cp $T/out/*.qcow2 clones/disks-first/ && cp -r $T/out/snapshots $T/out/settings clones/disks-first/ && cp $T/out/box.json clones/disks-first/")
	grown := layerBytes(t, m) - before
	t.Logf("a copy back with its disks before box.json grew the home by %d bytes", grown)
	if grown > 3<<20 {
		t.Fatalf("a copy back with its disks before box.json grew the home by %d bytes: it stored them whole", grown)
	}
	for _, back := range []string{"back", "disks-first"} {
		requireCloneOf(m, back, "x", "")
		for _, dir := range []string{"", "snapshots/v1/", "snapshots/v2/"} {
			for _, d := range disks {
				m.ok("qemu-img compare -q $T/out/" + dir + d + " boxes/" + back + "/" + dir + d)
			}
		}
		m.ok("diff -r $T/out/settings boxes/" + back + "/settings")
		requireListing(m, "boxes/"+back+"/snapshots", "v1", "v2")
	}
	requireFsckClean(m)
}

// TestCopyOfSomethingElseIsRefused: copying a directory that is not a box
// fails with "Invalid argument" and leaves no box and no clone; the name
// can be used again.
func TestCopyOfSomethingElseIsRefused(t *testing.T) {
	m := newMount(t)
	m.ok("mkdir boxes/x")
	m.refused("cp -r /etc clones/z", "Invalid argument")
	requireListing(m, "boxes", "x")
	requireListing(m, "clones")
	m.ok("grep -q 'is not part of a box' log")
	m.ok("mkdir clones/z && rmdir clones/z")
	requireListing(m, "clones")
	requireFsckClean(m)
}

// TestFirstCopiesOnAMountGoByReference: ten cp -r at once as the very first
// copies on a new mount all hand the disks over by reference, and so does a
// copy after them. Linux 6.18 can switch copy_file_range off for a whole
// mount when the first two requests cross (see fs/nodes/copyprobe.go); then
// every copy moved the disks' bytes. A fresh mount each round, since the
// kernel keeps what it learned per mount.
func TestFirstCopiesOnAMountGoByReference(t *testing.T) {
	m := newMount(t)
	m.ok("mkdir boxes/x")
	m.ok(qemuWrite(m.activeDisk("x", "disk.qcow2"), 0xab, "0", "1M"))
	for round := range 3 {
		m.unmount()
		m = remount(t, m)
		out := m.sh(fmt.Sprintf(`
for i in 0 1 2 3 4 5 6 7 8 9; do cp -r boxes/x clones/r%dc$i & done
wait
cp -r boxes/x clones/r%dlast`, round, round)).out
		if out != "" {
			t.Fatalf("round %d: copies: %s", round, out)
		}
		log := m.ok("cat log")
		for i := range 11 {
			name := fmt.Sprintf("r%dc%d", round, i)
			if i == 10 {
				name = fmt.Sprintf("r%dlast", round)
			}
			want := "copy by reference clones/" + name + "/disk.qcow2: ok"
			if !strings.Contains(log, want) {
				t.Fatalf("round %d: no %q in the log: the disk was copied as bytes\n%s", round, want, log)
			}
		}
	}
	requireFsckClean(m)
}
