package nodes

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// copyHome is an engine home with box "src", for copies into clones/.
type copyHome struct {
	t   *testing.T
	ctx context.Context
	rt  *snapshot.Runtime
	src *snapshot.Box
}

func newCopyHome(t *testing.T) *copyHome {
	ctx := context.Background()
	rt, err := snapshot.Open(ctx, t.TempDir(), snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	if _, err := rt.CreateBox(ctx, "src", snapshot.CreateOptions{DiskSize: 64 << 20}); err != nil {
		t.Fatal(err)
	}
	src, err := rt.Box(ctx, "src")
	if err != nil {
		t.Fatal(err)
	}
	return &copyHome{t: t, ctx: ctx, rt: rt, src: src}
}

// copy reserves name and follows the copy into it; each time it settles
// by itself it is sent on the channel.
func (h *copyHome) copy(name string, settle time.Duration) (*cloneCopy, <-chan *cloneCopy) {
	ct, err := h.rt.ReserveClone(h.ctx, name)
	if err != nil {
		h.t.Fatal(err)
	}
	settled := make(chan *cloneCopy, 1)
	return newCloneCopy(h.ctx, ct, 1, settle, func(c *cloneCopy, _ error) { settled <- c }), settled
}

// bind copies src's container disk into the copy by reference, which makes
// its box.
func (h *copyHome) bind(c *cloneCopy) {
	v, err := h.src.OpenDisk(h.ctx, snapshot.ContainerDisk)
	if err != nil {
		h.t.Fatal(err)
	}
	defer v.Close()
	if err := c.target().CopyFrom(h.ctx, "disk.qcow2", v.Ref()); err != nil {
		h.t.Fatal(err)
	}
}

func requireSettles(t *testing.T, settled <-chan *cloneCopy, want bool, why string) {
	t.Helper()
	wait := 150 * time.Millisecond
	if want {
		wait = 10 * time.Second
	}
	select {
	case <-settled:
		if !want {
			t.Fatalf("the copy settled %s", why)
		}
	case <-time.After(wait):
		if want {
			t.Fatalf("the copy did not settle %s", why)
		}
	}
}

// A copy settles once it made its box and nothing of it is in progress or
// open; then the engine forgets the target and nothing more is copied in.
func TestCopySettlesWhenIdleWithItsBox(t *testing.T) {
	h := newCopyHome(t)
	c, settled := h.copy("y", 20*time.Millisecond)
	if err := c.begin(); err != nil {
		t.Fatal(err)
	}
	c.end()
	requireSettles(t, settled, false, "before it made a box")

	if err := c.begin(); err != nil { // a file of the copy is open
		t.Fatal(err)
	}
	h.bind(c)
	requireSettles(t, settled, false, "with a file open")
	c.end()
	requireSettles(t, settled, true, "once idle with its box")

	if err := c.begin(); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("a step after the copy settled: %v, want ErrNotFound", err)
	}
	if h.rt.CloneTarget(h.ctx, "y") == c.target() {
		t.Fatal("the engine still holds the target of a settled copy")
	}
	if names, _ := h.rt.CloneNames(h.ctx); len(names) != 1 || names[0] != "y" {
		t.Fatalf("clones/ lists %q, want the clone y", names)
	}
}

// Disks copied without box.json wait for it, and make their box when the
// copy settles without one.
func TestCopyWithoutBoxJSONMakesItsBoxOnceIdle(t *testing.T) {
	h := newCopyHome(t)
	c, settled := h.copy("y", 20*time.Millisecond)
	v, err := h.src.OpenDisk(h.ctx, snapshot.ContainerDisk)
	if err != nil {
		t.Fatal(err)
	}
	image := make([]byte, v.Size())
	_, err = v.ReadAt(image, 0)
	v.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.begin(); err != nil {
		t.Fatal(err)
	}
	in, err := c.target().Create(h.ctx, "disk.qcow2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.WriteAt(image, 0); err != nil {
		t.Fatal(err)
	}
	if err := in.Close(h.ctx); err != nil {
		t.Fatal(err)
	}
	c.end()
	requireSettles(t, settled, true, "once idle with a disk and no box.json")
	if _, err := h.rt.Box(h.ctx, "y"); err != nil {
		t.Fatalf("the settled copy made no box: %v", err)
	}
}

// A copy ends at once when removed, or refused by the engine, and says why.
func TestCopyEndsWithItsReason(t *testing.T) {
	h := newCopyHome(t)
	removed, _ := h.copy("r", time.Hour)
	h.bind(removed)
	if err := removed.target().Remove(h.ctx); err != nil {
		t.Fatal(err)
	}
	removed.removed()
	if err := removed.begin(); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("a step after rmdir: %v, want ErrNotFound", err)
	}

	refused, _ := h.copy("z", time.Hour)
	if err := refused.target().Mkdir(h.ctx, "etc"); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("mkdir etc in a copy: %v, want ErrInvalid", err)
	}
	refused.finish()
	if err := refused.begin(); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("a step after the copy was refused: %v, want ErrInvalid", err)
	}
	if names, _ := h.rt.CloneNames(h.ctx); len(names) != 0 {
		t.Fatalf("clones/ lists %q after a removal and a refusal", names)
	}
}

// A bare reservation moves to a new name (mv clones/a clones/b) and keeps
// taking the copy there.
func TestReservationMoves(t *testing.T) {
	h := newCopyHome(t)
	c, _ := h.copy("a", time.Hour)
	moved, err := h.rt.ReserveClone(h.ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	c.rebind(moved)
	h.bind(c)
	c.finish()
	if _, err := h.rt.Box(h.ctx, "b"); err != nil {
		t.Fatalf("the moved reservation made no box b: %v", err)
	}
	if _, err := h.rt.ReserveClone(h.ctx, "a"); err != nil {
		t.Fatalf("the old name is still taken: %v", err)
	}
}
