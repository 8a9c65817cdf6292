package runner

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/core/quiesce"
)

func within(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestRunningBox drives one VM through what the engine does with a running
// box, ending with two live snapshots laid out the way a box home is.
func TestRunningBox(t *testing.T) {
	r := newTestRunner(t, nil)
	home := t.TempDir()
	boxDir := filepath.Join(home, "box")
	for _, d := range []string{boxDir, filepath.Join(home, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	vm, spec := bootBox(t, r, "box1", boxDir)
	agent := vm.Agent()
	disks := []string{DiskGuest, DiskContainer}
	files := map[string]string{DiskGuest: filepath.Base(spec.GuestDisk), DiskContainer: filepath.Base(spec.ContainerDisk)}

	writeBoth := func(t *testing.T, name, content string) {
		t.Helper()
		for _, d := range disks {
			if err := agent.WriteFile(within(t, 30*time.Second), d, name, []byte(content)); err != nil {
				t.Fatalf("write %s on %s: %v", name, d, err)
			}
		}
	}

	t.Run("agent reports both disks", func(t *testing.T) {
		st, err := agent.Ping(within(t, 10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, d := range st.Disks {
			names = append(names, d.Name)
		}
		if !slices.Equal(names, disks) || st.Frozen {
			t.Fatalf("status %+v: want disks %v, not frozen", st, disks)
		}
	})

	t.Run("write and read a file", func(t *testing.T) {
		ctx := within(t, 30*time.Second)
		if err := agent.WriteFile(ctx, DiskContainer, "hello/a.txt", []byte("hello")); err != nil {
			t.Fatal(err)
		}
		got, err := agent.ReadFile(ctx, DiskContainer, "hello/a.txt")
		if err != nil || string(got) != "hello" {
			t.Fatalf("read back %q, %v", got, err)
		}
		if _, err := agent.ReadFile(ctx, DiskContainer, "../etc/passwd"); !errors.Is(err, errdefs.ErrInvalid) {
			t.Fatalf("path outside the disk: got %v, want ErrInvalid", err)
		}
		if _, err := agent.ReadFile(ctx, "nodisk", "a.txt"); !errors.Is(err, errdefs.ErrNotFound) {
			t.Fatalf("unknown disk: got %v, want ErrNotFound", err)
		}
	})

	t.Run("freeze blocks writes until thaw", func(t *testing.T) {
		if err := vm.Freeze(within(t, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := vm.Freeze(within(t, 30*time.Second)); err != nil {
			t.Fatalf("second freeze: %v", err)
		}
		if st, err := agent.Ping(within(t, 10*time.Second)); err != nil || !st.Frozen {
			t.Fatalf("ping while frozen: %+v, %v", st, err)
		}
		err := agent.WriteFile(within(t, 1500*time.Millisecond), DiskContainer, "frozen.txt", []byte("late"))
		if !errors.Is(err, quiesce.ErrTimeout) {
			t.Fatalf("write while frozen: got %v, want it blocked (ErrTimeout)", err)
		}
		if got, err := agent.ReadFile(within(t, 10*time.Second), DiskContainer, "hello/a.txt"); err != nil || string(got) != "hello" {
			t.Fatalf("read while frozen: %q, %v", got, err)
		}
		if err := vm.Thaw(within(t, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
		// The blocked write goes through once thawed.
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := agent.ReadFile(within(t, 10*time.Second), DiskContainer, "frozen.txt")
			if err == nil && string(got) == "late" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("blocked write never completed: %q, %v", got, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		writeBoth(t, "thawed.txt", "thawed")
		if err := vm.Thaw(within(t, 10*time.Second)); err != nil {
			t.Fatalf("thaw when not frozen: %v", err)
		}
	})

	t.Run("freeze and thaw latency", func(t *testing.T) {
		var freezes, thaws []time.Duration
		for range 5 {
			writeBoth(t, "dirty.txt", strings.Repeat("x", 64<<10))
			began := time.Now()
			if err := vm.Freeze(within(t, 30*time.Second)); err != nil {
				t.Fatal(err)
			}
			freezes = append(freezes, time.Since(began))
			began = time.Now()
			if err := vm.Thaw(within(t, 30*time.Second)); err != nil {
				t.Fatal(err)
			}
			thaws = append(thaws, time.Since(began))
		}
		t.Logf("measure: freeze %v, thaw %v (TCG, two disks, after a 64 KiB write each)", freezes, thaws)
	})

	t.Run("freeze of a paused guest times out", func(t *testing.T) {
		if err := vm.Pause(within(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		const deadline = 2 * time.Second
		began := time.Now()
		err := vm.Freeze(within(t, deadline))
		took := time.Since(began)
		if err := vm.Resume(within(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		if !errors.Is(err, quiesce.ErrTimeout) || !errors.Is(err, errdefs.ErrBusy) {
			t.Fatalf("freeze of a paused guest: got %v, want ErrTimeout (ErrBusy)", err)
		}
		if took > deadline+2*time.Second {
			t.Fatalf("freeze returned %s after a %s deadline", took, deadline)
		}
		// The guest freezes late, then runs the thaw Freeze sent when it
		// gave up: it must not stay frozen.
		writeBoth(t, "resumed.txt", "resumed")
		if st, err := agent.Ping(within(t, 10*time.Second)); err != nil || st.Frozen {
			t.Fatalf("after the abandoned freeze: %+v, %v", st, err)
		}
	})

	t.Run("switch refusals", func(t *testing.T) {
		ctx := within(t, 30*time.Second)
		if err := vm.SwitchDisks(ctx, "", ""); !errors.Is(err, errdefs.ErrInvalid) {
			t.Fatalf("no overlay: got %v, want ErrInvalid", err)
		}
		if err := vm.SwitchDisks(ctx, filepath.Join(home, "nope.qcow2"), ""); !errors.Is(err, errdefs.ErrNotFound) {
			t.Fatalf("missing overlay: got %v, want ErrNotFound", err)
		}
		junk := filepath.Join(home, "tmp", "junk.qcow2")
		if err := os.WriteFile(junk, bytes.Repeat([]byte("junk"), 1024), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := vm.SwitchDisks(ctx, "", junk); !errors.Is(err, errdefs.ErrInvalid) {
			t.Fatalf("overlay that is not qcow2: got %v, want ErrInvalid", err)
		}
		// Another file in the active layer's place: QEMU would reopen it
		// as the frozen layer, so the switch is refused.
		moved := filepath.Join(boxDir, "moved.qcow2")
		if err := os.Rename(spec.GuestDisk, moved); err != nil {
			t.Fatal(err)
		}
		createOverlay(t, spec.GuestDisk, "moved.qcow2")
		ov := filepath.Join(home, "tmp", "ov.qcow2")
		createOverlay(t, ov, "../box/moved.qcow2")
		err := vm.SwitchDisks(ctx, ov, "")
		if err := os.Rename(moved, spec.GuestDisk); err != nil {
			t.Fatal(err)
		}
		if !errors.Is(err, errdefs.ErrBusy) {
			t.Fatalf("replaced active layer: got %v, want ErrBusy", err)
		}
		writeBoth(t, "refused.txt", "still running")
	})

	// A snapshot the engine's way: overlays are staged in tmp/ and name
	// their backing by the place the active layer moves to. The active
	// layer moves there after the switch, or before it (moveFirst: QEMU's
	// read-only reopen by name then fails, harmlessly); the overlay takes
	// its place after the switch.
	snapshot := func(t *testing.T, name string, moveFirst map[string]bool) (sums map[string]string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(home, name), 0o755); err != nil {
			t.Fatal(err)
		}
		staged, frozen, active := map[string]string{}, map[string]string{}, map[string]string{}
		for _, d := range disks {
			staged[d] = filepath.Join(home, "tmp", files[d])
			frozen[d] = filepath.Join(home, name, files[d])
			active[d] = filepath.Join(boxDir, files[d])
			createOverlay(t, staged[d], "../"+name+"/"+files[d])
		}
		rename := func(from, to string) {
			if err := os.Rename(from, to); err != nil {
				t.Fatal(err)
			}
		}
		began := time.Now()
		if err := vm.Freeze(within(t, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
		froze := time.Now()
		for _, d := range disks {
			if moveFirst[d] {
				rename(active[d], frozen[d])
			}
		}
		if err := vm.SwitchDisks(within(t, 30*time.Second), staged[DiskGuest], staged[DiskContainer]); err != nil {
			t.Fatal(err)
		}
		switched := time.Now()
		if err := vm.Thaw(within(t, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
		t.Logf("measure: snapshot %s: freeze %s, switch %s, thaw %s", name, froze.Sub(began).Round(time.Microsecond),
			switched.Sub(froze).Round(time.Microsecond), time.Since(switched).Round(time.Microsecond))
		sums = map[string]string{}
		for _, d := range disks {
			if !moveFirst[d] {
				rename(active[d], frozen[d])
			}
			rename(staged[d], active[d])
			sums[frozen[d]] = fileSHA256(t, frozen[d])
			// QEMU reopens the replaced layer read-only, except a layer
			// it opened by a name that was gone by then (Start's layers
			// are opened by name, overlays by descriptor): it keeps its
			// read-write descriptor, unused, as the checksums show.
			openedByName := name == "snap1"
			modes := qemuOpenModes(t, vm, frozen[d])
			if slices.Contains(modes, os.O_RDWR) && !(moveFirst[d] && openedByName) {
				t.Errorf("%s: QEMU holds frozen layer %s writable (modes %v)", d, frozen[d], modes)
			}
			t.Logf("%s: QEMU holds the frozen layer with modes %v (moved first: %v)", d, modes, moveFirst[d])
		}
		return sums
	}

	t.Run("two live snapshots", func(t *testing.T) {
		writeBoth(t, "v.txt", "before")
		sums1 := snapshot(t, "snap1", map[string]bool{DiskGuest: true})
		writeBoth(t, "v.txt", "after1")
		sums2 := snapshot(t, "snap2", map[string]bool{DiskContainer: true})
		writeBoth(t, "v.txt", "after2")
		began := time.Now()
		if err := vm.Stop(within(t, time.Minute)); err != nil {
			t.Fatal(err)
		}
		t.Logf("measure: stop took %s", time.Since(began).Round(time.Millisecond))
		assertGone(t, vm)
		if err := vm.Err(); err != nil {
			t.Fatalf("Err after Stop: %v", err)
		}

		for path, sum := range mergeMaps(sums1, sums2) {
			if got := fileSHA256(t, path); got != sum {
				t.Errorf("frozen layer %s changed after its switch", path)
			}
		}
		for _, d := range disks {
			f := files[d]
			top, s2, s1 := filepath.Join(boxDir, f), filepath.Join(home, "snap2", f), filepath.Join(home, "snap1", f)
			for _, img := range []string{top, s2, s1} {
				checkImage(t, img)
			}
			// QEMU attached the backing in memory and left each overlay's
			// header as created.
			if got := backingName(t, top); got != "../snap2/"+f {
				t.Errorf("%s backing %q", top, got)
			}
			if got := backingName(t, s2); got != "../snap1/"+f {
				t.Errorf("%s backing %q", s2, got)
			}
			for img, want := range map[string]string{s1: "before", s2: "after1", top: "after2"} {
				if got := string(guestFile(t, img, "/v.txt")); got != want {
					t.Errorf("%s: v.txt = %q, want %q", img, got, want)
				}
			}
			if got := string(guestFile(t, s1, "/thawed.txt")); got != "thawed" {
				t.Errorf("%s: thawed.txt = %q", s1, got)
			}
		}
	})
}

func mergeMaps(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
