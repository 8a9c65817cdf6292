package snapshot

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Export and import at the engine level (the archive format has its own
// tests in core/boxsnap).

// exportTo streams an export into a file and returns its path.
func (h *home) exportTo(export func(w io.Writer) error) string {
	h.t.Helper()
	path := filepath.Join(h.t.TempDir(), "box.boxsnap")
	f, err := os.Create(path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	if err := export(f); err != nil {
		h.t.Fatalf("export: %v", err)
	}
	return path
}

func (h *home) importFrom(path, name string) *Box {
	h.t.Helper()
	f, err := os.Open(path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	if _, err := h.rt.Import(h.ctx, f, name, ImportOptions{}); err != nil {
		h.t.Fatalf("import %s: %v", name, err)
	}
	return h.box(name)
}

// requireSameImages compares each disk of got with want's (current state or
// snapshot) with `qemu-img compare`.
func (h *home) requireSameImages(got, want *Box, snapshot string) {
	h.t.Helper()
	for _, d := range AllDisks() {
		if !qemuCompare(h.t, h.saveDisk(got, "", d), h.saveDisk(want, snapshot, d)) {
			h.t.Fatalf("disk %s differs from its source (snapshot %q)", d, snapshot)
		}
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	h := newHome(t, Options{})
	a := h.createBox("a")
	h.write(a, ContainerDisk, 0x11, 0, 2<<20)
	h.write(a, GuestDisk, 0x12, 16<<20, 1<<20)
	h.snapshot(a, "v1")
	h.write(a, ContainerDisk, 0x22, 1<<20, 2<<20)
	if err := a.SetSetting(h.ctx, "export.compression_level", "7"); err != nil {
		t.Fatal(err)
	}
	if err := a.SetSetting(h.ctx, "clone.cow", "false"); err != nil {
		t.Fatal(err)
	}

	archive := h.exportTo(func(w io.Writer) error { return a.Export(h.ctx, w, DefaultExportOptions()) })
	b := h.importFrom(archive, "b")
	h.requireSameImages(b, a, "")
	info, _ := b.Info(h.ctx)
	if info.Status != Stopped || info.Origin == nil || info.Origin.Kind != "import" || info.Origin.Box != "a" {
		t.Fatalf("imported box: %+v, origin %+v", info, info.Origin)
	}
	if s, _ := b.Settings(h.ctx); s.Export.CompressionLevel != 7 || s.Clone.COW {
		t.Fatalf("the archive's settings did not come along: %+v", s)
	}

	// A snapshot's archive, uncompressed: a plain tar of the three members.
	opts := DefaultExportOptions()
	opts.Compress = false
	plain := h.exportTo(func(w io.Writer) error { return a.Snapshots().Export(h.ctx, "v1", w, opts) })
	out, err := exec.Command("tar", "-tf", plain).CombinedOutput()
	if err != nil {
		t.Fatalf("tar -tf: %v\n%s", err, out)
	}
	members := strings.Fields(string(out))
	if len(members) != 3 {
		t.Fatalf("members of the archive: %v", members)
	}
	c := h.importFrom(plain, "c")
	h.requireSameImages(c, a, "v1")

	// The imported box is a box like any other.
	h.write(c, ContainerDisk, 0xcc, 0, 1<<20)
	h.snapshot(c, "after-import")
	if !qemuReads(t, h.saveDisk(a, "v1", ContainerDisk), 0x11, 0, 2<<20) {
		t.Fatal("writing to an imported box changed the box it was exported from")
	}
	h.requireClean()
}

func TestRestoreDuringExportDoesNotChangeTheStream(t *testing.T) {
	h := newHome(t, Options{})
	a := h.createBox("a")
	h.write(a, ContainerDisk, 0x11, 0, 2<<20)
	h.snapshot(a, "v1")
	h.write(a, ContainerDisk, 0x22, 0, 4<<20)
	h.write(a, GuestDisk, 0x23, 0, 1<<20)
	atStart := map[Disk]string{}
	for _, d := range AllDisks() {
		atStart[d] = h.saveDisk(a, "", d)
	}

	finishExport := h.stalledExport(a)

	if err := a.Snapshots().Restore(h.ctx, "v1"); err != nil {
		t.Fatalf("restore during an export: %v", err)
	}
	h.write(a, ContainerDisk, 0x33, 0, 1<<20) // and the box moves on
	if err := a.Snapshots().Remove(h.ctx, "v1"); err != nil {
		t.Fatalf("snapshot remove during an export: %v", err)
	}

	archive := filepath.Join(t.TempDir(), "a.boxsnap")
	if err := os.WriteFile(archive, finishExport(), 0o644); err != nil {
		t.Fatal(err)
	}
	b := h.importFrom(archive, "b")
	for _, d := range AllDisks() {
		if !qemuCompare(t, h.saveDisk(b, "", d), atStart[d]) {
			t.Fatalf("disk %s of the archive is not the state the export began with", d)
		}
	}
	if qemuCompare(t, h.saveDisk(a, "", ContainerDisk), atStart[ContainerDisk]) {
		t.Fatal("the restore did not change the box: the test proves nothing")
	}
	h.requireClean()
}
