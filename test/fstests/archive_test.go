package fstests

import (
	"slices"
	"strings"
	"testing"
)

// TestExportImport streams archives out of export.boxsnap with cat, dd and
// Python, and creates boxes by copying them into import/ (SPEC 2.3).
func TestExportImport(t *testing.T) {
	m := newMount(t)
	m.ok("mkdir boxes/x")
	m.ok("qemu-io -c 'write -P 0xab 0 1M' " + m.activeDisk("x", "disk.qcow2"))
	m.ok("mkdir boxes/x/snapshots/v1")

	members := func(script string) []string {
		t.Helper()
		got := lines(m.ok(script))
		slices.Sort(got)
		return got
	}
	want := []string{"disk.qcow2", "guest-rootfs.qcow2", "manifest.json"}
	if got := members("cat boxes/x/export.boxsnap | tar -I zstd -t"); !slices.Equal(got, want) {
		t.Fatalf("archive members %q, want %q", got, want)
	}
	if got := members("tar -I zstd -tf boxes/x/snapshots/v1/export.boxsnap"); !slices.Equal(got, want) {
		t.Fatalf("snapshot archive members %q, want %q", got, want)
	}
	m.ok("cat boxes/x/export.boxsnap > $T/x.boxsnap")
	// exported_at differs between two exports; everything else is the same.
	if got := members("dd if=boxes/x/export.boxsnap bs=1M status=none | zstd -dc | tar -t"); !slices.Equal(got, want) {
		t.Fatalf("archive read by dd: members %q", got)
	}
	m.ok("mkdir $T/out && zstd -dc < $T/x.boxsnap | tar -x -C $T/out")
	m.ok("qemu-img compare $T/out/disk.qcow2 boxes/x/disk.qcow2 && qemu-img check $T/out/disk.qcow2")
	m.ok("grep -q '\"box_name\": *\"x\"' $T/out/manifest.json")
	if got := m.ok("stat -c %s boxes/x/export.boxsnap"); got != "0\n" {
		t.Fatalf("export.boxsnap st_size = %q, want 0", got)
	}

	// Import with cp and with Python; the file leaves import/ at close.
	m.ok("cp $T/x.boxsnap import/y.boxsnap")
	m.ok(`python3 -c 'import shutil, sys; shutil.copyfile(sys.argv[1], sys.argv[2])' $T/x.boxsnap import/p.boxsnap`)
	if got := m.ok("ls import"); got != "" {
		t.Fatalf("import/ after the copies: %q", got)
	}
	if got := lines(m.ok("ls boxes")); !slices.Equal(got, []string{"p", "x", "y"}) {
		t.Fatalf("ls boxes = %q", got)
	}
	for _, b := range []string{"y", "p"} {
		if info := m.boxInfo(b); info.Status != "stopped" || info.Origin == nil || info.Origin.Kind != "import" {
			t.Fatalf("box.json of %s: %+v", b, info)
		}
		m.ok("qemu-img compare boxes/x/disk.qcow2 boxes/" + b + "/disk.qcow2")
		m.ok("qemu-img compare boxes/x/guest-rootfs.qcow2 boxes/" + b + "/guest-rootfs.qcow2")
	}

	// export.compress=false gives a plain tar that imports as well.
	m.ok("echo false > boxes/x/settings/export.compress")
	if got := members("tar -tf boxes/x/export.boxsnap"); !slices.Equal(got, want) {
		t.Fatalf("plain tar members %q", got)
	}
	m.ok("cat boxes/x/export.boxsnap > $T/plain.boxsnap && cp $T/plain.boxsnap import/plain.boxsnap")
	m.ok("qemu-img compare boxes/x/disk.qcow2 boxes/plain/disk.qcow2")
	// Stored sparse, its zeros are holes that cp seeks over, and more zero
	// padding after the tar end a trailing hole that cp makes with
	// ftruncate (both were EINVAL).
	m.ok("cp --sparse=always $T/plain.boxsnap $T/sparse.boxsnap && truncate -s +64K $T/sparse.boxsnap")
	m.ok("cp $T/sparse.boxsnap import/sparse.boxsnap")
	m.ok("qemu-img compare boxes/x/disk.qcow2 boxes/sparse/disk.qcow2")
	// dd seeks over zeros too, and syncs before it closes (fsync was EOPNOTSUPP).
	m.ok("dd if=$T/sparse.boxsnap of=import/dd.boxsnap bs=64K conv=sparse,fsync status=none")
	m.ok("qemu-img compare boxes/x/disk.qcow2 boxes/dd/disk.qcow2")
}

// TestImportRefusals: a bad archive fails with a clear error from the call
// that reveals it, and leaves no box and no file.
func TestImportRefusals(t *testing.T) {
	m := newMount(t)
	m.ok("mkdir boxes/x && cat boxes/x/export.boxsnap > $T/x.boxsnap")
	m.ok("head -c 1000000 /dev/urandom > $T/random.boxsnap")
	m.ok("head -c $(( $(stat -c %s $T/x.boxsnap) / 2 )) $T/x.boxsnap > $T/truncated.boxsnap")

	m.refused("cp $T/random.boxsnap import/r.boxsnap", "Bad message")
	m.refused("cp $T/truncated.boxsnap import/t.boxsnap", "Bad message")
	m.refused("cp $T/x.boxsnap import/x.boxsnap", "File exists")
	m.refused("cp $T/x.boxsnap import/x.tar", "Invalid argument")
	m.refused("cp $T/x.boxsnap import/.hidden.boxsnap", "Invalid argument")
	if got := m.ok("ls -A import"); got != "" {
		t.Fatalf("import/ after refusals: %q", got)
	}
	if got := lines(m.ok("ls boxes")); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("ls boxes after refusals = %q", got)
	}
	log := m.ok("cat log")
	for _, want := range []string{"import/r.boxsnap: EBADMSG", "import/t.boxsnap: EBADMSG", "create import/x.tar: EINVAL"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	// The name is free again after a refused import.
	m.ok("cp $T/x.boxsnap import/r.boxsnap")
}
