package snapshot

import (
	"database/sql"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Fsck (`boxlitefs fsck`): damage done behind the engine's back is found,
// what can be fixed without losing data is repaired, and the rest is
// reported and left alone.

// fsckFinds runs fsck without repair and requires a problem whose text
// contains want.
func (h *home) fsckFinds(want string) {
	h.t.Helper()
	r, err := h.rt.Fsck(h.ctx, false)
	if err != nil {
		h.t.Fatalf("fsck: %v", err)
	}
	for _, p := range r.Problems {
		if strings.Contains(p.String(), want) && !p.Repaired {
			return
		}
	}
	h.t.Fatalf("fsck does not report %q; it found:\n%s", want, problemList(r.Problems))
}

// repair runs fsck with repair and requires everything found repaired.
func (h *home) repair() {
	h.t.Helper()
	r, err := h.rt.Fsck(h.ctx, true)
	if err != nil {
		h.t.Fatalf("fsck --repair: %v", err)
	}
	if !r.Clean() {
		h.t.Fatalf("fsck --repair left problems:\n%s", problemList(r.Problems))
	}
}

func TestFsckRepairsWhatLosesNoData(t *testing.T) {
	h := newHome(t, Options{})
	a := h.createBox("a")
	h.write(a, ContainerDisk, 0x11, 0, 1<<20)
	h.snapshot(a, "v1")
	state := h.observe()

	// A snapshot directory that lost its link to the frozen layer.
	link := filepath.Join(h.dir, "boxes", a.ID(), "snapshots", "v1", ContainerDisk.FileName())
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	h.fsckFinds("not a link to its layer")
	// Files nothing refers to: a stray layer, a staging file, tmp/.
	for _, stray := range []string{
		filepath.Join("bases", "ff", strings.Repeat("f", 32)+".qcow2"),
		filepath.Join("boxes", a.ID(), ".disk.qcow2.0123456789abcdef"),
		filepath.Join("tmp", "import-123"),
	} {
		path := filepath.Join(h.dir, stray)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("stray"), 0o644); err != nil {
			t.Fatal(err)
		}
		h.fsckFinds(stray + ": orphan")
	}

	h.repair()
	h.requireClean()
	if got := h.observe(); !equalObserved(got, state) {
		t.Fatalf("repair changed the boxes:\n%s\nwas\n%s", got, state)
	}
	if _, err := os.Stat(link); err != nil {
		t.Fatalf("the snapshot's link was not restored: %v", err)
	}
}

func TestFsckReportsDamagedImagesAndKeepsThem(t *testing.T) {
	h := newHome(t, Options{})
	a := h.createBox("a")
	h.write(a, ContainerDisk, 0x11, 0, 1<<20)
	h.snapshot(a, "v1")

	// Break the frozen layer's refcount table: clusters referenced with
	// refcount 0 is corruption that qemu-img check reports too.
	frozen := filepath.Join(h.dir, "boxes", a.ID(), "snapshots", "v1", ContainerDisk.FileName())
	if err := os.Chmod(frozen, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(frozen, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	header := make([]byte, 64)
	if _, err := f.ReadAt(header, 0); err != nil {
		t.Fatal(err)
	}
	refcountTable := int64(binary.BigEndian.Uint64(header[48:56]))
	if _, err := f.WriteAt(make([]byte, 8), refcountTable); err != nil { // first refcount block gone
		t.Fatal(err)
	}
	f.Close()

	h.fsckFinds(h.layerPath(frozen))
	r, err := h.rt.Fsck(h.ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if r.Clean() {
		t.Fatal("fsck --repair claims a corrupt image is fixed")
	}
	if _, err := os.Stat(frozen); err != nil {
		t.Fatalf("fsck removed a damaged image that holds data: %v", err)
	}
}

// A box left snapshotting by a process that died is stopped when the home
// is next opened, and the open says so.
func TestOpenResetsTheStatusOfADeadProcess(t *testing.T) {
	h := newHome(t, Options{})
	h.createBox("a")
	h.close()
	db, err := sql.Open("sqlite3", filepath.Join(h.dir, "db", "boxlite.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE box_state SET status = 'snapshotting', json = '{"owner":"0123456789abcdef"}'`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	h.open()
	if st, _ := h.box("a").State(h.ctx); st != Stopped {
		t.Fatalf("state after reopening: %s", st)
	}
	found := false
	for _, p := range h.rt.Recovered() {
		found = found || (p.Repaired && strings.Contains(p.What, "snapshotting"))
	}
	if !found {
		t.Fatalf("the open does not report the reset: %v", h.rt.Recovered())
	}
	h.requireClean()
}

// layerPath is the home-relative path in bases/ of the frozen layer that a
// snapshot's file links to.
func (h *home) layerPath(link string) string {
	h.t.Helper()
	want, err := os.Stat(link)
	if err != nil {
		h.t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(h.dir, "bases", "*", "*.qcow2"))
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && os.SameFile(st, want) {
			rel, _ := filepath.Rel(h.dir, f)
			return rel
		}
	}
	h.t.Fatalf("%s links to no layer in bases/", link)
	return ""
}
