package snapshot

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	_ "github.com/mattn/go-sqlite3"
)

// Crash injection (SPEC 2.6): a mutation killed with SIGKILL at any step
// leaves a home that the next open recovers to exactly the state before or
// after it, with no orphan files and no dangling rows.
//
// Each mutation runs in a child process, this test binary run again with
// the environment below; its FailPoint counts steps and kills the process
// at step k. The parent copies a prepared home for every k, runs the child,
// reopens the copy and checks it, until the child completes without
// reaching k.

const (
	envCrashMutation = "BOXLITE_TEST_CRASH_MUTATION" // which mutation the child runs
	envCrashHome     = "BOXLITE_TEST_CRASH_HOME"     // the home it runs in
	envCrashInputs   = "BOXLITE_TEST_CRASH_INPUTS"   // archive and image files
	envCrashStep     = "BOXLITE_TEST_CRASH_STEP"     // the step to die at; 0 = none
)

func TestMain(m *testing.M) {
	if os.Getenv(envCrashMutation) != "" {
		os.Exit(crashChild())
	}
	os.Exit(m.Run())
}

// crashMutation is one mutation under test, applied to the home that
// prepareCrashHome makes; inputs holds the files it reads.
type crashMutation struct {
	name string
	run  func(ctx context.Context, rt *Runtime, inputs string) error
}

func crashMutations() []crashMutation {
	return []crashMutation{
		{"box create", func(ctx context.Context, rt *Runtime, _ string) error {
			_, err := rt.CreateBox(ctx, "new", CreateOptions{DiskSize: testDiskSize, Image: "test"})
			return err
		}},
		{"snapshot create", func(ctx context.Context, rt *Runtime, _ string) error {
			return withBox(ctx, rt, "src", func(b *Box) error {
				_, err := b.Snapshots().Create(ctx, "s3", DefaultSnapshotOptions())
				return err
			})
		}},
		{"snapshot create of a running box", func(ctx context.Context, rt *Runtime, _ string) error {
			// The fake VM (the runner's own tests run the real one) makes the
			// engine stage overlays, switch the VM to them and rename them in.
			return withBox(ctx, rt, "src", func(b *Box) error {
				if err := b.SetState(ctx, Running); err != nil {
					return err
				}
				if _, err := b.Snapshots().Create(ctx, "s3", DefaultSnapshotOptions()); err != nil {
					return err
				}
				return b.SetState(ctx, Stopped)
			})
		}},
		{"snapshot restore", func(ctx context.Context, rt *Runtime, _ string) error {
			return withBox(ctx, rt, "src", func(b *Box) error { return b.Snapshots().Restore(ctx, "s1") })
		}},
		{"snapshot remove", func(ctx context.Context, rt *Runtime, _ string) error {
			// c1 is a clone of s1 and s2 is built on it.
			return withBox(ctx, rt, "src", func(b *Box) error { return b.Snapshots().Remove(ctx, "s1") })
		}},
		{"snapshot rename", func(ctx context.Context, rt *Runtime, _ string) error {
			return withBox(ctx, rt, "src", func(b *Box) error { return b.Snapshots().Rename(ctx, "s2", "renamed") })
		}},
		{"box remove", func(ctx context.Context, rt *Runtime, _ string) error {
			return rt.RemoveBox(ctx, "src") // c1 depends on its layers
		}},
		{"clone", func(ctx context.Context, rt *Runtime, _ string) error {
			return withBox(ctx, rt, "src", func(b *Box) error {
				_, err := b.Clone(ctx, "c2", DefaultCloneOptions())
				return err
			})
		}},
		{"clone from snapshot", func(ctx context.Context, rt *Runtime, _ string) error {
			return withBox(ctx, rt, "src", func(b *Box) error {
				opts := DefaultCloneOptions()
				opts.FromSnapshot = "s2"
				_, err := b.Clone(ctx, "c3", opts)
				return err
			})
		}},
		{"import", func(ctx context.Context, rt *Runtime, inputs string) error {
			f, err := os.Open(filepath.Join(inputs, "src.boxsnap"))
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = rt.Import(ctx, f, "imported", ImportOptions{})
			return err
		}},
		{"disk replace", func(ctx context.Context, rt *Runtime, inputs string) error {
			return withBox(ctx, rt, "src", func(b *Box) error {
				return writeDisk(ctx, b, ContainerDisk, filepath.Join(inputs, "image.qcow2"))
			})
		}},
		{"adopt disk", func(ctx context.Context, rt *Runtime, _ string) error {
			src, err := rt.Box(ctx, "src")
			if err != nil {
				return err
			}
			return withBox(ctx, rt, "c1", func(b *Box) error {
				return b.AdoptDisk(ctx, ContainerDisk, DiskRef{BoxID: src.ID(), Snapshot: "s2", Disk: ContainerDisk})
			})
		}},
	}
}

func withBox(ctx context.Context, rt *Runtime, name string, fn func(*Box) error) error {
	b, err := rt.Box(ctx, name)
	if err != nil {
		return err
	}
	return fn(b)
}

// writeDisk replaces a disk with an image file the way the filesystem does:
// sequential writes from offset 0, then Commit.
func writeDisk(ctx context.Context, b *Box, d Disk, image string) error {
	data, err := os.ReadFile(image)
	if err != nil {
		return err
	}
	w, err := b.NewDiskWriter(ctx, d)
	if err != nil {
		return err
	}
	for off := 0; off < len(data); off += 128 << 10 {
		if _, err := w.WriteAt(data[off:min(off+128<<10, len(data))], int64(off)); err != nil {
			w.Abort()
			return err
		}
	}
	return w.Commit(ctx)
}

// crashChild is the child process: it runs one mutation and, through the
// FailPoint, dies at the step the parent chose.
func crashChild() int {
	ctx := context.Background()
	name := os.Getenv(envCrashMutation)
	k, err := strconv.Atoi(os.Getenv(envCrashStep))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad step:", err)
		return 3
	}
	var steps atomic.Int64
	// Merges run only when a mutation asks: a background pass would make
	// the step count depend on timing.
	opts := Options{Runner: &fakeRunner{}, ManualCompaction: true, FailPoint: func(step string) {
		if n := steps.Add(1); n == int64(k) {
			fmt.Fprintf(os.Stderr, "step %d %q\n", n, step)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}}
	rt, err := Open(ctx, os.Getenv(envCrashHome), opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 3
	}
	defer rt.Close()
	for _, m := range append(crashMutations(), mergeMutation()) {
		if m.name == name {
			if err := m.run(ctx, rt, os.Getenv(envCrashInputs)); err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
				return 2
			}
			fmt.Fprintf(os.Stderr, "completed in %d steps\n", steps.Load())
			return 0
		}
	}
	fmt.Fprintln(os.Stderr, "no mutation", name)
	return 3
}

// prepareCrashHome makes the home every crash run starts from: box src with
// two snapshots and unsnapshotted writes, c1 a clone of src's s1 with writes
// of its own; and, in inputs, an archive of src and a standalone image.
func prepareCrashHome(t *testing.T, dir, inputs string) {
	h := openHome(t, dir, Options{})
	defer h.close()
	src := h.createBox("src")
	h.write(src, ContainerDisk, 0x11, 0, 1<<20)
	h.write(src, GuestDisk, 0x12, 0, 64<<10)
	h.snapshot(src, "s1")
	h.write(src, ContainerDisk, 0x22, 1<<20, 1<<20)
	h.snapshot(src, "s2")
	h.write(src, ContainerDisk, 0x33, 2<<20, 1<<20)
	c1 := h.clone(src, "c1", "s1")
	h.write(c1, ContainerDisk, 0xc1, 3<<20, 1<<20)

	archive, err := os.Create(filepath.Join(inputs, "src.boxsnap"))
	if err != nil {
		t.Fatal(err)
	}
	defer archive.Close()
	if err := src.Export(h.ctx, archive, DefaultExportOptions()); err != nil {
		t.Fatal(err)
	}
	image := filepath.Join(inputs, "image.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", image, strconv.Itoa(testDiskSize)).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v\n%s", err, out)
	}
	qemuIO(t, image, "write -P 0x5e 4M 2M")
}

func TestCrashAtEveryStepRecoversToBeforeOrAfter(t *testing.T) {
	root := t.TempDir()
	template, inputs := filepath.Join(root, "template"), filepath.Join(root, "inputs")
	if err := os.Mkdir(inputs, 0o755); err != nil {
		t.Fatal(err)
	}
	prepareCrashHome(t, template, inputs)
	before := observeCopy(t, template, filepath.Join(root, "before"))

	for _, m := range crashMutations() {
		t.Run(strings.ReplaceAll(m.name, " ", "_"), func(t *testing.T) {
			run := func(k int) (home string, killedAt string) {
				home = filepath.Join(t.TempDir(), "home")
				copyHome(t, template, home)
				return home, runCrashChild(t, m.name, home, inputs, k)
			}
			home, _ := run(0)
			after := observeAt(t, home)
			if equalObserved(before, after) {
				t.Fatalf("%s changed nothing:\n%s", m.name, after)
			}
			for k := 1; ; k++ {
				home, killedAt := run(k)
				if killedAt == "" { // completed without reaching step k
					if got := observeAt(t, home); !equalObserved(got, after) {
						t.Fatalf("completed run differs from the first:\n%s\nwant\n%s", got, after)
					}
					t.Logf("%s: %d steps, each crash recovered", m.name, k-1)
					return
				}
				h := openHome(t, home, Options{Runner: &fakeRunner{}})
				h.requireClean()
				requireNoDanglingRows(t, home)
				got := h.observe()
				switch {
				case equalObserved(got, after):
				case equalObserved(got, before):
					// Rolled back: nothing stale (a busy status, a half-made
					// file, a name) may stop the same mutation now.
					if err := m.run(h.ctx, h.rt, inputs); err != nil {
						t.Fatalf("killed at %s, recovered to before, then the mutation fails: %v", killedAt, err)
					}
					h.requireClean()
					if again := h.observe(); !equalObserved(again, after) {
						t.Fatalf("killed at %s, recovered, mutation redone: state\n%s\nwant\n%s", killedAt, again, after)
					}
				default:
					t.Fatalf("killed at %s: recovered to neither before nor after:\n%s\nbefore\n%s\nafter\n%s",
						killedAt, got, before, after)
				}
				h.close()
			}
		})
	}
}

// runCrashChild runs mutation name in a child process on home, killed at
// step k (0: not at all). It returns the step the child died at, or "" when
// it completed.
func runCrashChild(t *testing.T, name, home, inputs string, k int) string {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(),
		envCrashMutation+"="+name, envCrashHome+"="+home, envCrashInputs+"="+inputs, envCrashStep+"="+strconv.Itoa(k))
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &exit):
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return strings.TrimSpace(stderr.String())
		}
	}
	t.Fatalf("child %s (step %d): %v\n%s", name, k, err, stderr.String())
	return ""
}

// copyHome copies a home as a backup would, hard links included (snapshot
// directories link to frozen layers).
func copyHome(t *testing.T, from, to string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v\n%s", err, out)
	}
}

// observeAt opens the home at dir, requires it clean, and observes it.
func observeAt(t *testing.T, dir string) observed {
	t.Helper()
	h := openHome(t, dir, Options{})
	defer h.close()
	h.requireClean()
	return h.observe()
}

// observeCopy observes a copy of a home, leaving the original untouched.
func observeCopy(t *testing.T, dir, scratch string) observed {
	t.Helper()
	copyHome(t, dir, scratch)
	return observeAt(t, scratch)
}

// requireNoDanglingRows asks SQLite itself: the database is intact and every
// foreign key points at a row.
func requireNoDanglingRows(t *testing.T, home string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(home, "db", "boxlite.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var integrity string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity_check: %q, %v", integrity, err)
	}
	rows, err := db.Query(`PRAGMA foreign_key_check`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if rows.Next() {
		var table string
		var rowid sql.NullInt64
		var parent string
		var fk int
		if err := rows.Scan(&table, &rowid, &parent, &fk); err != nil {
			t.Fatal(err)
		}
		t.Fatalf("dangling row: %s rowid %v refers to a missing %s", table, rowid.Int64, parent)
	}
}
