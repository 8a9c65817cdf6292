package nodes

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// What the engine changes is seen by the next question, however long the
// facts may be kept: the engine's events come in before each answer.
func TestFactsFollowTheEngine(t *testing.T) {
	ctx := context.Background()
	rt, err := snapshot.Open(ctx, t.TempDir(), snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	events, unsubscribe := rt.Subscribe()
	defer unsubscribe()
	f := newFacts(rt, events, time.Hour)

	info, err := rt.CreateBox(ctx, "a", snapshot.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.boxNamed(ctx, "a"); err != nil || got.ID != info.ID {
		t.Fatalf("box a: %+v, %v", got, err)
	}
	box, err := f.box(ctx, info.ID)
	if err != nil {
		t.Fatal(err)
	}

	// More changes than the subscription holds: none is missed.
	for level := 1; level <= 300; level++ {
		if err := box.SetSetting(ctx, "export.compression_level", fmt.Sprint(level%22+1)); err != nil {
			t.Fatal(err)
		}
		if s, err := f.settings(ctx, info.ID); err != nil || s.Export.CompressionLevel != level%22+1 {
			t.Fatalf("after setting level %d the facts say %d (%v)", level%22+1, s.Export.CompressionLevel, err)
		}
	}
	if _, err := box.Snapshots().Create(ctx, "v1", snapshot.DefaultSnapshotOptions()); err != nil {
		t.Fatal(err)
	}
	if s, err := f.snapshots(ctx, info.ID); err != nil || len(s) != 1 || s[0].Name != "v1" {
		t.Fatalf("snapshots after one was made: %+v, %v", s, err)
	}

	if err := rt.RenameBox(ctx, "a", "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.boxNamed(ctx, "a"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("the old name after a rename: %v, want ErrNotFound", err)
	}
	if got, err := f.info(ctx, info.ID); err != nil || got.Name != "b" {
		t.Fatalf("box.json after a rename: %+v, %v", got, err)
	}
	if err := rt.RemoveBox(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.info(ctx, info.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("a removed box: %v, want ErrNotFound", err)
	}
}
