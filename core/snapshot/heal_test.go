package snapshot

import (
	"github.com/boxlite-ai/boxlitefs/metadata"
	"os"
	"path/filepath"
	"testing"
)

// A power failure can lose what the engine does not sync: box directories'
// entries, empty overlays, snapshot links, and renames after a commit. Each
// is a function of the database; opening the home makes it again.
func TestOpenRemakesWhatAPowerFailureCanLose(t *testing.T) {
	h := newHome(t, Options{})
	b := h.createBox("x")
	h.write(b, ContainerDisk, 0xab, 0, 1<<20)
	v1 := h.snapshot(b, "v1")
	want := h.digest(b, "v1", ContainerDisk)
	id := b.ID()
	h.close()

	var disks map[string]string
	h.open()
	if err := h.rt.db.View(h.ctx, func(tx *metadata.Tx) error {
		var err error
		disks, err = tx.BoxDisks(h.ctx, id)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	h.close()

	lay := layout{home: h.dir}
	// The container disk's rename after the snapshot's commit was lost: its
	// active path still names the file that became the frozen layer.
	active := lay.active(id, ContainerDisk)
	if err := os.Remove(active); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(lay.layer(disks[string(ContainerDisk)]), active); err != nil {
		t.Fatal(err)
	}
	// The guest disk's overlay never reached the disk.
	if err := os.Remove(lay.active(id, GuestDisk)); err != nil {
		t.Fatal(err)
	}
	// Nor did a snapshot link and the bases link.
	if err := os.Remove(lay.snapshotFile(id, v1.Name, GuestDisk)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(lay.box(id), "bases")); err != nil {
		t.Fatal(err)
	}

	h.open()
	b = h.box("x")
	if len(h.rt.Recovered()) < 4 {
		t.Errorf("recovered: %s", problemList(h.rt.Recovered()))
	}
	h.requireClean()
	if got := h.digest(b, "", ContainerDisk); got != want {
		t.Errorf("container disk after healing differs from v1")
	}
	if got := h.digest(b, "v1", ContainerDisk); got != want {
		t.Errorf("v1 after healing differs")
	}
	// The frozen layer was not written through the old active path.
	h.write(b, ContainerDisk, 0xcd, 0, 1<<20)
	if got := h.digest(b, "v1", ContainerDisk); got != want {
		t.Errorf("a write to the box changed v1")
	}
}
