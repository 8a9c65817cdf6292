package snapshot

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// mergeMutation runs a compaction pass; its home has a removed snapshot
// whose layers wait to be merged.
func mergeMutation() crashMutation {
	return crashMutation{"merge layers", func(ctx context.Context, rt *Runtime, _ string) error {
		_, err := rt.Compact(ctx)
		return err
	}}
}

// A merge killed at any step leaves every state as it was and fsck clean:
// either the layers are merged or they are not.
func TestCrashDuringMergeRecovers(t *testing.T) {
	root := t.TempDir()
	template, inputs := filepath.Join(root, "template"), filepath.Join(root, "inputs")
	if err := os.Mkdir(inputs, 0o755); err != nil {
		t.Fatal(err)
	}
	manual := Options{ManualCompaction: true}
	h := openHome(t, template, manual)
	b := h.createBox("src")
	for i, name := range []string{"s1", "s2", "s3"} {
		h.write(b, ContainerDisk, byte(0x11*(i+1)), int64(i)<<20, 1<<20)
		h.snapshot(b, name)
	}
	if err := b.Snapshots().Remove(h.ctx, "s2"); err != nil {
		t.Fatal(err)
	}
	before := h.observe()
	h.close()

	m := mergeMutation()
	for k := 1; ; k++ {
		home := filepath.Join(t.TempDir(), "home")
		copyHome(t, template, home)
		killedAt := runCrashChild(t, m.name, home, inputs, k)
		h := openHome(t, home, manual)
		h.requireClean()
		requireNoDanglingRows(t, home)
		if got := h.observe(); !equalObserved(got, before) {
			t.Fatalf("killed at %q: states changed:\n%s\nwant\n%s", killedAt, got, before)
		}
		if killedAt == "" {
			t.Logf("merge: %d steps, each crash recovered", k-1)
			if k == 1 {
				t.Fatal("the merge took no steps: nothing was mergeable")
			}
			return
		}
		h.close()
	}
}
