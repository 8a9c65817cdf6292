package snapshot

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/metadata"
)

// setSchemaVersion writes the version a database claims, as a newer (or
// older) program would have left it.
func setSchemaVersion(t *testing.T, home string, v int) {
	t.Helper()
	db, err := sql.Open("sqlite3", filepath.Join(home, "db", "boxlite.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE schema_version SET version = ?`, v); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesAHomeWithANewerDatabase(t *testing.T) {
	h := newHome(t, Options{})
	h.createBox("a")
	h.close()
	newer := metadata.SchemaVersion() + 1
	setSchemaVersion(t, h.dir, newer)

	rt, err := Open(context.Background(), h.dir, Options{})
	if err == nil {
		rt.Close()
		t.Fatal("a home whose database is newer than this program was opened")
	}
	requireErr(t, err, errdefs.ErrUnsupported, "open of a newer home")
	for _, word := range []string{"newer", strconv.Itoa(newer), strconv.Itoa(metadata.SchemaVersion())} {
		if !strings.Contains(err.Error(), word) {
			t.Errorf("the refusal %q does not say %q", err, word)
		}
	}

	// Refused means untouched: put the version back and everything is there,
	// and the refused open left no lock behind.
	setSchemaVersion(t, h.dir, metadata.SchemaVersion())
	h.open()
	h.box("a")
	h.requireClean()
}

// SPEC 1: backing references stay inside the home; one that points outside
// is refused when the disk is opened, and fsck reports it.
func TestBackingFileOutsideTheHomeIsRefused(t *testing.T) {
	h := newHome(t, Options{})
	a := h.createBox("a")
	outside := filepath.Join(t.TempDir(), "outside.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", outside, strconv.Itoa(testDiskSize)).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v\n%s", err, out)
	}
	active := h.active(a, ContainerDisk)
	if err := os.Remove(active); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-b", outside, "-F", "qcow2", active).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create -b: %v\n%s", err, out)
	}
	v, err := a.OpenDisk(h.ctx, ContainerDisk)
	if err == nil {
		v.Close()
		t.Fatal("a disk whose backing file is outside the home was opened")
	}
	requireErr(t, err, errdefs.ErrCorrupt, "open of a disk backed outside the home")
	r, err := h.rt.Fsck(h.ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if r.Clean() {
		t.Fatal("fsck finds nothing wrong with a disk backed outside the home")
	}
}
