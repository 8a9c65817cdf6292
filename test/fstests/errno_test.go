package fstests

import (
	"strings"
	"testing"
)

// TestErrnoTable walks the rows of SPEC 2.1: each refusal is the errno the
// shell prints, and a line in the log that says why.
func TestErrnoTable(t *testing.T) {
	m := newMount(t)
	m.ok("mkdir boxes/x boxes/y && mkdir boxes/x/snapshots/v1 && mkdir boxes/y/snapshots/v1")

	// ENOENT
	m.refused("echo v9 > boxes/x/restore", "No such file or directory")
	m.refused("cat boxes/nope/box.json", "No such file or directory")
	m.refused("rmdir boxes/x/snapshots/v9", "No such file or directory")
	m.refused("ls boxes/x/snapshots/v9", "No such file or directory")
	// EEXIST
	m.refused("mkdir boxes/x", "mkdir: cannot create directory 'boxes/x': File exists")
	m.refused("mkdir boxes/x/snapshots/v1", "File exists")
	m.refused("mkdir clones/x", "mkdir: cannot create directory 'clones/x': File exists")
	m.refused("mv boxes/x/snapshots/v1 boxes/x/snapshots/v1x && mkdir boxes/x/snapshots/v1 && mv -T boxes/x/snapshots/v1 boxes/x/snapshots/v1x", "File exists")
	// EINVAL
	m.refused("mkdir boxes/.hidden", "Invalid argument")
	m.refused("mkdir boxes/x/snapshots/.v", "Invalid argument")
	m.refused("echo 99 > boxes/x/settings/export.compression_level", "Invalid argument")
	m.refused("echo sometimes > boxes/x/state", "Invalid argument")
	// mv words EINVAL from rename(2) as a move into itself; Python prints it.
	m.refused("mv boxes/x/snapshots/v1x boxes/y/snapshots/v2", "cannot move")
	m.refused(`python3 -c 'import os; os.rename("boxes/x/snapshots/v1x", "boxes/y/snapshots/v2")'`, "Invalid argument")
	m.refused(`python3 -c 'import os; os.rename("boxes/x", "clones/x")'`, "Invalid argument")
	m.refused("dd if=/dev/zero of=boxes/x/disk.qcow2 bs=512 count=1 seek=8 conv=notrunc status=none", "Invalid argument")
	// Too short to be either kind of image (it was EIO: the qcow2 magic could not be read).
	m.refused("printf abc > $T/abc.img && cp $T/abc.img boxes/x/disk.qcow2", "Invalid argument")
	m.refused("cp boxes/x/box.json clones/", "Invalid argument")
	m.refused("mkdir clones/c && touch clones/c/passwd", "touch: cannot touch 'clones/c/passwd': Invalid argument")
	// EBUSY: two mutations at once are raced in TestConcurrentMutations;
	// restore and remove of a running box are in TestRunningBox, which
	// needs the guest assets (this mount has none: start is EOPNOTSUPP).
	// EACCES
	m.refused("echo x > boxes/x/box.json", "Permission denied")
	m.refused("rm boxes/x/box.json", "Permission denied")
	m.refused("rm -f boxes/x/state", "Permission denied")
	m.refused("rmdir boxes/x/settings", "Permission denied")
	m.refused("echo x > boxes/x/snapshots/v1x/disk.qcow2", "Permission denied")
	m.refused("echo x > README", "Permission denied")
	m.refused("touch boxes/x/newfile", "Permission denied")
	// EBADMSG
	m.ok("head -c 300000 /dev/urandom > $T/junk.boxsnap && qemu-img create -f qcow2 $T/img.qcow2 64M >/dev/null")
	m.ok("head -c 1000 $T/img.qcow2 > $T/short.qcow2")
	m.refused("cp $T/junk.boxsnap import/j.boxsnap", "Bad message")
	m.refused("cp $T/short.qcow2 boxes/x/disk.qcow2", "Bad message")
	m.refused("chmod 600 boxes/x/export.boxsnap", "Permission denied")
	// EOPNOTSUPP
	m.refused("echo running > boxes/x/state", "Operation not supported")
	m.refused("touch boxes/x", "Operation not supported")
	m.refused("ln -s x boxes/x/link", "Operation not supported")
	m.refused("mkdir clones/l && ln boxes/x/box.json clones/l/box.json", "Operation not supported")

	log := m.ok("cat log")
	for _, want := range []string{
		`write boxes/x/restore "v9": ENOENT: `,
		"rename boxes/x/snapshots/v1 -> v1x: EEXIST: ",
		"mkdir boxes/.hidden: EINVAL: ",
		"rename boxes/x/snapshots/v1x: EINVAL: ",
		"unlink boxes/x/box.json: EACCES: ",
		"boxes/x/disk.qcow2: EBADMSG: ",
		"replace disk boxes/x/disk.qcow2: EINVAL: a raw image must be a whole number of 512-byte sectors, got 3 bytes",
		`write boxes/x/state "running": EOPNOTSUPP: no runner`,
		"setattr boxes/x: EOPNOTSUPP: ",
		"symlink boxes/x/link: EOPNOTSUPP: ",
		"link clones/l/box.json: EOPNOTSUPP: ",
		"setattr boxes/x/export.boxsnap: EACCES: ",
		`create clones/c/passwd: EINVAL: clones/c: "passwd" is not part of a box`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	// Nothing was changed by the refusals.
	if got := m.ok("cat boxes/x/settings/export.compression_level boxes/x/state"); got != "3\nstopped\n" {
		t.Errorf("after refusals: %q", got)
	}
	m.ok("qemu-img check boxes/x/disk.qcow2")
}
