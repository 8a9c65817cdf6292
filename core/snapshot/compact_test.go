package snapshot

import (
	"testing"

	"github.com/boxlite-ai/boxlitefs/metadata"
)

// Removing snapshots leaves their layers in the chains built on them;
// compaction merges each into its only child, and every state that remains
// reads the same.
func TestCompactMergesWhatNothingHolds(t *testing.T) {
	h := newHome(t, Options{ManualCompaction: true})
	b := h.createBox("x")
	for i, name := range []string{"v1", "v2", "v3", "v4", "v5"} {
		h.write(b, ContainerDisk, byte(0x10+i), int64(i)<<20, 1<<20)
		h.write(b, GuestDisk, byte(0x20+i), int64(i)<<20, 1<<20)
		h.snapshot(b, name)
	}
	h.write(b, ContainerDisk, 0xee, 0, 64<<10)
	c := h.clone(b, "c", "v3")
	want := map[string]string{}
	for _, s := range []string{"", "v1", "v5"} {
		for _, d := range AllDisks() {
			want[s+"/"+string(d)] = h.digest(b, s, d)
		}
	}
	cwant := h.digest(c, "", ContainerDisk)
	depth := func() int {
		v := h.openDisk(b, "", ContainerDisk)
		defer v.Close()
		return len(v.img.Layers())
	}
	before := depth()
	for _, s := range []string{"v2", "v3", "v4"} {
		if err := b.Snapshots().Remove(h.ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	// v3's layers are held by the clone: on each disk v2 merges into v3's
	// layer and v4 into v5's.
	n, err := h.rt.Compact(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("merged %d layers, want 4", n)
	}
	if after := depth(); after != before-2 {
		t.Errorf("chain depth %d, want %d", after, before-2)
	}
	for _, s := range []string{"", "v1", "v5"} {
		for _, d := range AllDisks() {
			if got := h.digest(b, s, d); got != want[s+"/"+string(d)] {
				t.Errorf("state %q disk %s changed by compaction", s, d)
			}
		}
	}
	if got := h.digest(c, "", ContainerDisk); got != cwant {
		t.Errorf("the clone changed by compaction")
	}
	var merges []metadata.Merge
	if err := h.rt.db.View(h.ctx, func(tx *metadata.Tx) error {
		var err error
		merges, err = tx.Merges(h.ctx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(merges) != 0 {
		t.Errorf("still mergeable after Compact: %v", merges)
	}
	h.requireClean()
	h.reopen()
	h.requireClean()
}

// A merge waits while a reader is opening a chain.
func TestCompactWaitsForReaders(t *testing.T) {
	h := newHome(t, Options{ManualCompaction: true})
	b := h.createBox("x")
	h.write(b, ContainerDisk, 0x11, 0, 1<<20)
	h.snapshot(b, "v1")
	h.write(b, ContainerDisk, 0x22, 0, 1<<20)
	h.snapshot(b, "v2")
	if err := b.Snapshots().Remove(h.ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	h.rt.pin("someone")
	n, err := h.rt.Compact(h.ctx)
	if err != nil || n != 0 {
		t.Fatalf("compact with a reader: %d, %v", n, err)
	}
	h.rt.unpin([]string{"someone"})
	if n, err := h.rt.Compact(h.ctx); err != nil || n != 1 {
		t.Fatalf("compact after it: %d, %v", n, err)
	}
	h.requireClean()
}
