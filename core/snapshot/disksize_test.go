package snapshot

import "testing"

// DiskSize is what a view opened now would report, and follows writes.
func TestDiskSizeIsTheViewSize(t *testing.T) {
	h := newHome(t, Options{})
	b := h.createBox("x")
	check := func(what string) {
		t.Helper()
		for _, d := range AllDisks() {
			got, err := b.DiskSize(h.ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			v := h.openDisk(b, "", d)
			if want := v.Size(); got != want {
				t.Errorf("%s: DiskSize(%s) = %d, a view says %d", what, d, got, want)
			}
			v.Close()
		}
	}
	check("new box")
	h.write(b, ContainerDisk, 0xab, 0, 4<<20)
	check("after a write")
	h.snapshot(b, "v1")
	check("after a snapshot")
	got, err := b.Snapshots().DiskSize(h.ctx, "v1", ContainerDisk)
	if err != nil {
		t.Fatal(err)
	}
	v := h.openDisk(b, "v1", ContainerDisk)
	defer v.Close()
	if got != v.Size() {
		t.Errorf("snapshot DiskSize %d, view %d", got, v.Size())
	}
}
