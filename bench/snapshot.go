package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/qcow2"
	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// The snapshot engine: clones, snapshots, listings at scale and reads
// through deep chains, beside the qemu-img commands a script would run for
// the same files (qemu-img does no bookkeeping: no database, no journal).

// benchDiskSize is the container disk of the boxes these scenarios make.
const benchDiskSize = 256 << 20

// Scale of the listing scenarios.
const (
	scaleBoxes     = 1000
	scaleSnapshots = 10
)

func snapshotScenarios() []Scenario {
	return []Scenario{
		{Area: "snapshot", Name: "clone of a box, in-process", Reps: 50, Setup: setupClone},
		{Area: "snapshot", Name: "10 parallel clones from one snapshot, wall", Reps: 10, Setup: setupParallelClones},
		{Area: "snapshot", Name: "snapshot create of a stopped box", Reps: 50, Setup: setupSnapshotCreate},
		{Area: "snapshot", Name: "ListBoxes, 1000 boxes x 10 snapshots", Reps: 30, Setup: setupListBoxes},
		{Area: "snapshot", Name: "List snapshots of one box, 1000 boxes x 10 snapshots", Reps: 100, Setup: setupListSnapshots},
		{Area: "snapshot", Name: "open and read a DiskView, depth 100 vs depth 1", Reps: 10, Setup: setupDeepView},
		{Area: "snapshot", Name: "read an open DiskView, depth 100 vs depth 1", Reps: 10, Setup: setupDeepOpenView},
	}
}

// openHome opens (creating) an engine home under the scratch directory.
func openHome(ctx context.Context, env *Env, name string) (*snapshot.Runtime, error) {
	return snapshot.Open(ctx, filepath.Join(env.Dir, name), snapshot.Options{Logger: slog.New(slog.DiscardHandler)})
}

// freshHome opens a new, empty home, whatever an earlier run left there.
func freshHome(ctx context.Context, env *Env, name string) (*snapshot.Runtime, error) {
	if err := os.RemoveAll(filepath.Join(env.Dir, name)); err != nil {
		return nil, err
	}
	return openHome(ctx, env, name)
}

// writeData stands in for a VM writing to a stopped box: qemu-io writes
// pattern at each offset (length bytes each) into the box's active layer.
func writeData(ctx context.Context, rt *snapshot.Runtime, b *snapshot.Box, d snapshot.Disk, pattern byte, length int64, offsets ...int64) error {
	args := []string{"-f", "qcow2"}
	for _, off := range offsets {
		args = append(args, "-c", fmt.Sprintf("write -P 0x%02x %d %d", pattern, off, length))
	}
	args = append(args, filepath.Join(rt.Home(), "boxes", b.ID(), d.FileName()))
	return command(ctx, "qemu-io", args...)
}

// sourceBox makes box "src" with data on both disks and snapshot "v1".
func sourceBox(ctx context.Context, rt *snapshot.Runtime) (*snapshot.Box, error) {
	if _, err := rt.CreateBox(ctx, "src", snapshot.CreateOptions{DiskSize: benchDiskSize}); err != nil {
		return nil, err
	}
	b, err := rt.Box(ctx, "src")
	if err != nil {
		return nil, err
	}
	if err := writeData(ctx, rt, b, snapshot.ContainerDisk, 0x11, 16<<20, 0); err != nil {
		return nil, err
	}
	if err := writeData(ctx, rt, b, snapshot.GuestDisk, 0x12, 4<<20, 0); err != nil {
		return nil, err
	}
	if _, err := b.Snapshots().Create(ctx, "v1", snapshot.DefaultSnapshotOptions()); err != nil {
		return nil, err
	}
	return b, nil
}

// qemuOverlays is the script's version of a clone or a snapshot: one
// `qemu-img create -b` a disk, n disks at once (parallel processes).
func qemuOverlays(ctx context.Context, dir string, n int) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			overlay := filepath.Join(dir, "overlay-"+strconv.Itoa(i)+".qcow2")
			errs[i] = command(ctx, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", overlay)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// qemuSide runs qemuOverlays in a directory of its own with a base image,
// in batches of parallel processes, timed, and removes the overlays after.
func qemuSide(ctx context.Context, env *Env, name, label string, batches, parallel int) (Side, error) {
	dir := filepath.Join(env.Dir, name)
	if err := os.RemoveAll(dir); err != nil {
		return Side{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Side{}, err
	}
	if err := qcow2.Create(filepath.Join(dir, "base.qcow2"), benchDiskSize, qcow2.CreateOptions{}); err != nil {
		return Side{}, err
	}
	return Side{Label: label, Run: func(ctx context.Context, _ int) (Sample, error) {
		s, err := timed(func() error {
			for range batches {
				if err := qemuOverlays(ctx, dir, parallel); err != nil {
					return err
				}
			}
			return nil
		})
		for i := range parallel {
			os.Remove(filepath.Join(dir, "overlay-"+strconv.Itoa(i)+".qcow2"))
		}
		return s, err
	}}, nil
}

func closer(rt *snapshot.Runtime) func() error { return rt.Close }

// sourceCase is what the clone and snapshot scenarios start from: a fresh
// home with box "src" (see sourceBox), and the qemu-img side to compare
// with (see qemuSide).
type sourceCase struct {
	rt     *snapshot.Runtime
	src    *snapshot.Box
	theirs Side
}

func setupSource(ctx context.Context, env *Env, name, label string, batches, parallel int) (*sourceCase, error) {
	rt, err := freshHome(ctx, env, name)
	if err != nil {
		return nil, err
	}
	src, err := sourceBox(ctx, rt)
	if err != nil {
		rt.Close()
		return nil, err
	}
	theirs, err := qemuSide(ctx, env, name+"-qemu", label, batches, parallel)
	if err != nil {
		rt.Close()
		return nil, err
	}
	return &sourceCase{rt: rt, src: src, theirs: theirs}, nil
}

func setupClone(ctx context.Context, env *Env) (*Case, error) {
	sc, err := setupSource(ctx, env, "snapshot-clone", "2 x qemu-img create -b (one per disk, in turn)", 2, 1)
	if err != nil {
		return nil, err
	}
	rt, src := sc.rt, sc.src
	return &Case{
		Ours: Side{Label: "Box.Clone", Run: func(ctx context.Context, rep int) (Sample, error) {
			name := "clone-" + strconv.Itoa(rep+1)
			s, err := timed(func() error {
				_, err := src.Clone(ctx, name, snapshot.DefaultCloneOptions())
				return err
			})
			if err != nil {
				return s, err
			}
			return s, rt.RemoveBox(ctx, name) // untimed
		}},
		Theirs:  sc.theirs,
		Notes:   "current state of a stopped box with 16 MiB + 4 MiB written; box dir, 2 overlays, rows, fsync'd; BoxLite's design figure <= 1 ms",
		Cleanup: closer(rt),
	}, nil
}

func setupParallelClones(ctx context.Context, env *Env) (*Case, error) {
	const n = 10
	sc, err := setupSource(ctx, env, "snapshot-parallel", "20 x qemu-img create -b at once", 1, 2*n)
	if err != nil {
		return nil, err
	}
	rt, src := sc.rt, sc.src
	opts := snapshot.DefaultCloneOptions()
	opts.FromSnapshot = "v1"
	return &Case{
		Ours: Side{Label: "10 x Box.Clone at once", Run: func(ctx context.Context, rep int) (Sample, error) {
			errs := make([]error, n)
			s, _ := timed(func() error {
				var wg sync.WaitGroup
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						_, errs[i] = src.Clone(ctx, fmt.Sprintf("p%d-%d", rep+1, i), opts)
					}()
				}
				wg.Wait()
				return nil
			})
			for i := range n { // untimed
				errs = append(errs, rt.RemoveBox(ctx, fmt.Sprintf("p%d-%d", rep+1, i)))
			}
			return s, errors.Join(errs...)
		}},
		Theirs:  sc.theirs,
		Notes:   "from snapshot v1, 2 disks each; target <= 5 ms",
		Cleanup: closer(rt),
	}, nil
}

func setupSnapshotCreate(ctx context.Context, env *Env) (*Case, error) {
	sc, err := setupSource(ctx, env, "snapshot-create", "2 x qemu-img create -b (one per disk, in turn)", 2, 1)
	if err != nil {
		return nil, err
	}
	rt, src := sc.rt, sc.src
	return &Case{
		Ours: Side{Label: "Snapshots.Create", Run: func(ctx context.Context, rep int) (Sample, error) {
			// Untimed: the box wrote to both disks since its last snapshot,
			// so both active layers are frozen.
			for _, d := range snapshot.AllDisks() {
				if err := writeData(ctx, rt, src, d, byte(rep), 64<<10, int64(rep+2)<<20); err != nil {
					return Sample{}, err
				}
			}
			return timed(func() error {
				_, err := src.Snapshots().Create(ctx, "s"+strconv.Itoa(rep+2), snapshot.DefaultSnapshotOptions())
				return err
			})
		}},
		Theirs:  sc.theirs,
		Notes:   "both disks written since the last snapshot: 2 layers frozen, 2 overlays, rows, journal, fsync'd; target <= 2 ms",
		Cleanup: closer(rt),
	}, nil
}

// scaleHome opens the home of 1000 boxes with 10 snapshots each, building
// it on first use (an earlier scenario of the run, or a kept -dir).
func scaleHome(ctx context.Context, env *Env) (*snapshot.Runtime, error) {
	done := filepath.Join(env.Dir, "snapshot-scale.built")
	if _, err := os.Stat(done); err != nil { // none yet, or an interrupted one
		if err := os.RemoveAll(filepath.Join(env.Dir, "snapshot-scale")); err != nil {
			return nil, err
		}
	}
	rt, err := openHome(ctx, env, "snapshot-scale")
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(done); err == nil {
		return rt, nil
	}
	start := time.Now()
	if _, err := rt.CreateBox(ctx, "box-0000", snapshot.CreateOptions{DiskSize: benchDiskSize}); err != nil {
		rt.Close()
		return nil, err
	}
	// Four workers: different boxes do not wait for each other.
	const workers = 4
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < scaleBoxes && errs[w] == nil; i += workers {
				errs[w] = scaleBox(ctx, rt, i)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		rt.Close()
		return nil, err
	}
	env.Log.Info("built the scale home", "boxes", scaleBoxes, "snapshots", scaleBoxes*scaleSnapshots, "took", time.Since(start))
	return rt, os.WriteFile(done, nil, 0o644)
}

// scaleBox makes box i (a clone of box-0000) and its snapshots.
func scaleBox(ctx context.Context, rt *snapshot.Runtime, i int) error {
	name := fmt.Sprintf("box-%04d", i)
	if i > 0 {
		first, err := rt.Box(ctx, "box-0000")
		if err != nil {
			return err
		}
		if _, err := first.Clone(ctx, name, snapshot.DefaultCloneOptions()); err != nil {
			return err
		}
	}
	b, err := rt.Box(ctx, name)
	if err != nil {
		return err
	}
	for s := range scaleSnapshots {
		if _, err := b.Snapshots().Create(ctx, fmt.Sprintf("snap-%02d", s), snapshot.DefaultSnapshotOptions()); err != nil {
			return err
		}
	}
	return nil
}

func setupListBoxes(ctx context.Context, env *Env) (*Case, error) {
	rt, err := scaleHome(ctx, env)
	if err != nil {
		return nil, err
	}
	boxes := filepath.Join(rt.Home(), "boxes")
	return &Case{
		Ours: Side{Label: "Runtime.ListBoxes", Run: func(ctx context.Context, _ int) (Sample, error) {
			return timed(func() error {
				list, err := rt.ListBoxes(ctx)
				if err == nil && len(list) != scaleBoxes {
					err = fmt.Errorf("listed %d boxes", len(list))
				}
				return err
			})
		}},
		Theirs: Side{Label: "readdir of boxes/ (names only)", Run: readdirSide(boxes, scaleBoxes)},
		Notes:  "BoxInfo of every box (config JSON parsed); target <= 20 ms",
		Ratio: func(ours, theirs Stats) string {
			return fmt.Sprintf("%.1fx readdir's time", ours.P50.Seconds()/theirs.P50.Seconds())
		},
		Cleanup: closer(rt),
	}, nil
}

func setupListSnapshots(ctx context.Context, env *Env) (*Case, error) {
	rt, err := scaleHome(ctx, env)
	if err != nil {
		return nil, err
	}
	b, err := rt.Box(ctx, "box-0500")
	if err != nil {
		rt.Close()
		return nil, err
	}
	dir := filepath.Join(rt.Home(), "boxes", b.ID(), "snapshots")
	return &Case{
		Ours: Side{Label: "Snapshots.List", Run: func(ctx context.Context, _ int) (Sample, error) {
			return timed(func() error {
				list, err := b.Snapshots().List(ctx)
				if err == nil && len(list) != scaleSnapshots {
					err = fmt.Errorf("listed %d snapshots", len(list))
				}
				return err
			})
		}},
		Theirs: Side{Label: "readdir of boxes/ID/snapshots/", Run: readdirSide(dir, scaleSnapshots)},
		Notes:  "SnapshotInfo with layers, among 10 000 snapshots; target <= 2 ms",
		Ratio: func(ours, theirs Stats) string {
			return fmt.Sprintf("%.1fx readdir's time", ours.P50.Seconds()/theirs.P50.Seconds())
		},
		Cleanup: closer(rt),
	}, nil
}

func readdirSide(dir string, want int) func(context.Context, int) (Sample, error) {
	return func(context.Context, int) (Sample, error) {
		return timed(func() error {
			entries, err := os.ReadDir(dir)
			if err == nil && len(entries) != want {
				err = fmt.Errorf("%s: %d entries", dir, len(entries))
			}
			return err
		})
	}
}

// deepPair makes box "deep" whose container disk is a chain of 100 layers
// (64 MiB written, then 99 snapshots of 4 x 64 KiB writes each) and box
// "flat", a full copy (cow=false) of it: the same content at depth 1.
func deepPair(ctx context.Context, env *Env) (rt *snapshot.Runtime, deep, flat *snapshot.Box, err error) {
	if rt, err = freshHome(ctx, env, "snapshot-deep"); err != nil {
		return nil, nil, nil, err
	}
	defer func() {
		if err != nil {
			rt.Close()
		}
	}()
	if deep, err = deepBox(ctx, rt); err != nil {
		return nil, nil, nil, err
	}
	opts := snapshot.DefaultCloneOptions()
	opts.COW = false
	if _, err = deep.Clone(ctx, "flat", opts); err != nil {
		return nil, nil, nil, err
	}
	flat, err = rt.Box(ctx, "flat")
	return rt, deep, flat, err
}

func depthRatio(ours, theirs Stats) string {
	return fmt.Sprintf("%.0f%% of depth 1", 100*theirs.P50.Seconds()/ours.P50.Seconds())
}

// setupDeepView times what a reader of the disk file does: open the view
// (the chain, and the layout of the standalone image), then read it all.
func setupDeepView(ctx context.Context, env *Env) (*Case, error) {
	rt, deep, flat, err := deepPair(ctx, env)
	if err != nil {
		return nil, err
	}
	v, err := flat.OpenDisk(ctx, snapshot.ContainerDisk)
	if err != nil {
		rt.Close()
		return nil, err
	}
	size := v.Size()
	v.Close()
	return &Case{
		Ours:    Side{Label: "depth 100", Run: readView(deep)},
		Theirs:  Side{Label: "depth 1 (same content, cow=false clone)", Run: readView(flat)},
		Bytes:   size,
		Ratio:   depthRatio,
		Notes:   "open + flatten plan + 1 MiB ReadAt of the whole standalone image, MB/s of that image; target >= 80% of depth 1",
		Cleanup: closer(rt),
	}, nil
}

// setupDeepOpenView times the reads alone: both views are open already.
func setupDeepOpenView(ctx context.Context, env *Env) (*Case, error) {
	rt, deep, flat, err := deepPair(ctx, env)
	if err != nil {
		return nil, err
	}
	var views []*snapshot.DiskView
	for _, b := range []*snapshot.Box{deep, flat} {
		v, err := b.OpenDisk(ctx, snapshot.ContainerDisk)
		if err != nil {
			rt.Close()
			return nil, err
		}
		views = append(views, v)
	}
	read := func(v *snapshot.DiskView) func(context.Context, int) (Sample, error) {
		return func(context.Context, int) (Sample, error) {
			return timed(func() error { return readSequentially(v, v.Size()) })
		}
	}
	return &Case{
		Ours:   Side{Label: "depth 100", Run: read(views[0])},
		Theirs: Side{Label: "depth 1 (same content, cow=false clone)", Run: read(views[1])},
		Bytes:  views[1].Size(),
		Ratio:  depthRatio,
		Notes:  "1 MiB ReadAt of the whole standalone image of an open view",
		Cleanup: func() error {
			return errors.Join(views[0].Close(), views[1].Close(), rt.Close())
		},
	}, nil
}

func deepBox(ctx context.Context, rt *snapshot.Runtime) (*snapshot.Box, error) {
	if _, err := rt.CreateBox(ctx, "deep", snapshot.CreateOptions{DiskSize: benchDiskSize}); err != nil {
		return nil, err
	}
	b, err := rt.Box(ctx, "deep")
	if err != nil {
		return nil, err
	}
	if err := writeData(ctx, rt, b, snapshot.ContainerDisk, 0x11, 64<<20, 0); err != nil {
		return nil, err
	}
	for i := range 99 {
		if _, err := b.Snapshots().Create(ctx, fmt.Sprintf("d%02d", i), snapshot.DefaultSnapshotOptions()); err != nil {
			return nil, err
		}
		// Four 64 KiB writes spread over the disk, a new place each time.
		var offs []int64
		for k := range int64(4) {
			offs = append(offs, k*(benchDiskSize/4)+int64(i)*(512<<10))
		}
		if err := writeData(ctx, rt, b, snapshot.ContainerDisk, byte(i), 64<<10, offs...); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// readView opens the box's container disk view and reads it all.
func readView(b *snapshot.Box) func(context.Context, int) (Sample, error) {
	return func(ctx context.Context, _ int) (Sample, error) {
		return timed(func() error {
			v, err := b.OpenDisk(ctx, snapshot.ContainerDisk)
			if err != nil {
				return err
			}
			defer v.Close()
			return readSequentially(v, v.Size())
		})
	}
}
