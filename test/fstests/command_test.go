package fstests

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDemoMount: mount --demo on an empty home makes a box whose container
// disk is an ext4 holding the demo files, readable through the disk file.
func TestDemoMount(t *testing.T) {
	requireFUSE(t)
	home, dir := t.TempDir(), t.TempDir()
	if out, err := exec.Command(binary, "mount", "--demo", "-o", "allow_other", "--home", home, dir).CombinedOutput(); err != nil {
		t.Fatalf("mount --demo: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command(binary, "umount", dir).Run() })
	mounts, err := os.ReadFile("/proc/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(l); len(f) > 3 && f[1] == dir {
			if !strings.Contains(f[3], "allow_other") || !strings.Contains(f[3], "default_permissions") {
				t.Errorf("mount options %q, want allow_other and default_permissions", f[3])
			}
		}
	}
	m := &mount{t: t, dir: dir, tmp: t.TempDir(), home: home}
	if info := m.boxInfo("demo"); info.Origin == nil || info.Origin.Kind != "directory" {
		t.Fatalf("demo box.json: %+v", info)
	}
	m.ok("qemu-img convert -O raw boxes/demo/disk.qcow2 $T/demo.raw")
	if got := m.ok("debugfs -R 'cat /README.txt' $T/demo.raw 2>/dev/null"); !strings.Contains(got, "demo box") {
		t.Fatalf("README.txt in the demo disk: %q", got)
	}
	if got := m.ok("debugfs -R 'cat /data/numbers.txt' $T/demo.raw 2>/dev/null"); got != "1\n2\n3\n5\n8\n13\n" {
		t.Fatalf("numbers.txt: %q", got)
	}
}

// TestCommandErrors: the command refuses bad use with a message and exit 1
// or 2, and create's refusals name the reason.
func TestCommandErrors(t *testing.T) {
	home := t.TempDir()
	run := func(args ...string) (string, int) {
		out, err := exec.Command(binary, args...).CombinedOutput()
		code := 0
		if e, ok := err.(*exec.ExitError); ok {
			code = e.ExitCode()
		}
		return string(out), code
	}
	if out, code := run("frobnicate"); code != 2 || !strings.Contains(out, "unknown command") {
		t.Errorf("unknown command: %d %q", code, out)
	}
	if out, code := run("create", "--home", home, "--size", "12Q", "x"); code != 1 || !strings.Contains(out, "size") {
		t.Errorf("bad size: %d %q", code, out)
	}
	if out, code := run("create", "--home", home, ".x"); code != 1 || !strings.Contains(out, "invalid argument") {
		t.Errorf("bad name: %d %q", code, out)
	}
	if out, code := run("create", "--home", home, "x", "--size", "64M"); code != 0 || !strings.Contains(out, "created box x") {
		t.Errorf("create: %d %q", code, out)
	}
	if out, code := run("create", "--home", home, "x"); code != 1 || !strings.Contains(out, "already exists") {
		t.Errorf("create twice: %d %q", code, out)
	}
	if out, code := run("mount", "--home", home, "-o", "ro", t.TempDir()); code != 1 || !strings.Contains(out, "allow_other") {
		t.Errorf("unknown mount option: %d %q", code, out)
	}
	if out, code := run("fsck", "--home", home); code != 0 || !strings.Contains(out, "clean") {
		t.Errorf("fsck: %d %q", code, out)
	}
	out, code := run("ls", "--home", home)
	if code != 0 || !strings.Contains(out, "x ") || !strings.Contains(out, "stopped") {
		t.Errorf("ls: %d %q", code, out)
	}
	t.Setenv("BOXLITE_HOME", home)
	if out, code := run("ls"); code != 0 || !strings.Contains(out, "x ") {
		t.Errorf("ls with $BOXLITE_HOME: %d %q", code, out)
	}
}

// TestBoxSubcommands drives snapshot, clone, export, import and restore
// from the command line on an unmounted home, then checks the result
// through a mount.
func TestBoxSubcommands(t *testing.T) {
	requireFUSE(t)
	m := &mount{t: t, home: t.TempDir(), dir: t.TempDir(), tmp: t.TempDir()}
	m.ok(`B="$BOXLITEFS"; H="--home $H"
$B create $H a --size 64M
$B snapshot $H a s1
$B clone $H a b
$B clone $H a c --from-snapshot s1
$B export $H a -o $T/a.boxsnap
$B export $H a --snapshot s1 > $T/s1.boxsnap
$B export $H a > /dev/null
$B import $H $T/a.boxsnap d
$B import $H - e < $T/s1.boxsnap
$B restore $H a s1`)
	m.refused(`"$BOXLITEFS" restore --home $H a nope`, "not found")
	m.refused(`"$BOXLITEFS" export --home $H a -o $T/a.boxsnap`, "exists")
	m.refused(`script -qec '"$BOXLITEFS" export --home $H a' /dev/null`, "terminal")
	m = remount(t, m)
	if got := strings.Join(lines(m.ok("ls boxes")), " "); got != "a b c d e" {
		t.Fatalf("ls boxes = %q", got)
	}
	for _, b := range []string{"b", "c", "d", "e"} {
		m.ok("qemu-img compare boxes/a/disk.qcow2 boxes/" + b + "/disk.qcow2")
	}
	m.ok("grep -q '\"kind\": \"clone\"' boxes/c/box.json && grep -q '\"kind\": \"import\"' boxes/e/box.json")
}
