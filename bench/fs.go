package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/boxlite-ai/boxlitefs/core/snapshot"
	"github.com/boxlite-ai/boxlitefs/fs/nodes"
	"github.com/boxlite-ai/boxlitefs/fs/ops"
)

// fsScenarios measure the mount as shell tools use it. The mount is served
// by this process; every access to it runs in a child process (mkdir, cat,
// cp, ls), since a daemon must never touch its own mount.
func fsScenarios() []Scenario {
	return []Scenario{
		{Area: "fs", Name: "mkdir snapshots/NAME (stopped box)", Reps: 30, Setup: setupFSSnapshot},
		{Area: "fs", Name: "cat disk.qcow2 > /dev/null, 256 MiB mixed, warm", Reps: 5, Setup: setupFSCatDisk},
		{Area: "fs", Name: "cp disk.qcow2 out of the mount, 256 MiB mixed", Reps: 5, Setup: setupFSCopyOut},
		{Area: "fs", Name: "cat export.boxsnap > /dev/null, 256 MiB mixed", Reps: 3, Setup: setupFSExport},
		{Area: "fs", Name: "export.boxsnap's handle read in-process, 256 MiB mixed", Reps: 3, Setup: setupFSExportHandle},
		{Area: "fs", Name: "ls -l boxes, 1000 boxes", Reps: 10, Setup: setupFSList},
		{Area: "fs", Name: "cp -r boxes/x clones/y (a box with a snapshot)", Reps: 30, Setup: setupFSClone},
		{Area: "fs", Name: "10 x cp -r boxes/x clones/NAME at once, wall", Reps: 10, Setup: setupFSParallelClones},
	}
}

// fsFixture is a home mounted by this process.
type fsFixture struct {
	dir string // holds home/ and mnt/
	rt  *snapshot.Runtime
	m   *nodes.Mount
}

func mountFixture(ctx context.Context, env *Env, name string) (*fsFixture, error) {
	f := &fsFixture{dir: filepath.Join(env.Dir, name)}
	if err := os.RemoveAll(f.dir); err != nil { // what an earlier run in the same -dir left
		return nil, err
	}
	if err := os.MkdirAll(f.mnt(), 0o755); err != nil {
		return nil, err
	}
	rt, err := snapshot.Open(ctx, filepath.Join(f.dir, "home"), snapshot.Options{Logger: env.Log})
	if err != nil {
		return nil, err
	}
	f.rt = rt
	if f.m, err = nodes.New(ctx, rt, f.mnt(), nodes.Options{}); err != nil {
		rt.Close()
		return nil, err
	}
	return f, nil
}

func (f *fsFixture) mnt() string { return filepath.Join(f.dir, "mnt") }
func (f *fsFixture) path(rel ...string) string {
	return filepath.Join(append([]string{f.mnt()}, rel...)...)
}

func (f *fsFixture) close() error {
	err := f.m.Unmount()
	if cerr := f.rt.Close(); err == nil {
		err = cerr
	}
	return err
}

// filledBox makes box name whose container disk holds size bytes of mixed
// data: a third random, a third text, a third zeros.
func (f *fsFixture) filledBox(ctx context.Context, name string, size int64) (*snapshot.Box, error) {
	if _, err := f.rt.CreateBox(ctx, name, snapshot.CreateOptions{DiskSize: size}); err != nil {
		return nil, err
	}
	box, err := f.rt.Box(ctx, name)
	if err != nil {
		return nil, err
	}
	w, err := box.NewDiskWriter(ctx, snapshot.ContainerDisk)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	text := []byte(strings.Repeat("boxlitefs benchmark line of plain text, compressible. ", 1200))
	chunk := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(chunk)) {
		switch (off / int64(len(chunk))) % 3 {
		case 0:
			for i := range chunk {
				chunk[i] = byte(rng.Uint32())
			}
		case 1:
			copy(chunk, text)
		default:
			clear(chunk)
		}
		if _, err := w.WriteAt(chunk, off); err != nil {
			w.Abort()
			return nil, err
		}
	}
	return box, w.Commit(ctx)
}

func setupFSSnapshot(ctx context.Context, env *Env) (*Case, error) {
	f, err := mountFixture(ctx, env, "fs-snapshot")
	if err != nil {
		return nil, err
	}
	if _, err := f.rt.CreateBox(ctx, "x", snapshot.CreateOptions{DiskSize: 1 << 30}); err != nil {
		return nil, err
	}
	base := filepath.Join(f.dir, "base.qcow2")
	if _, err := timeCommand(ctx, "qemu-img", "create", "-q", "-f", "qcow2", base, "1G"); err != nil {
		return nil, err
	}
	return &Case{
		Ours: Side{Label: "mkdir", Run: func(ctx context.Context, rep int) (Sample, error) {
			return timeCommand(ctx, "mkdir", f.path("boxes", "x", "snapshots", fmt.Sprintf("s%d", rep+1)))
		}},
		Theirs: Side{Label: "qemu-img create -b (an external snapshot by hand)", Run: func(ctx context.Context, rep int) (Sample, error) {
			overlay := filepath.Join(f.dir, fmt.Sprintf("overlay%d.qcow2", rep+1))
			return timeCommand(ctx, "qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, overlay)
		}},
		Notes:   "wall time of the process, O(1) in the disk size",
		Cleanup: f.close,
	}, nil
}

// diskCase prepares a box with a 256 MiB mixed disk and the size of its
// standalone image.
func diskCase(ctx context.Context, env *Env, name string) (*fsFixture, string, int64, error) {
	f, err := mountFixture(ctx, env, name)
	if err != nil {
		return nil, "", 0, err
	}
	box, err := f.filledBox(ctx, "x", 256<<20)
	if err != nil {
		f.close()
		return nil, "", 0, err
	}
	view, err := box.OpenDisk(ctx, snapshot.ContainerDisk)
	if err != nil {
		f.close()
		return nil, "", 0, err
	}
	defer view.Close()
	return f, f.path("boxes", "x", snapshot.ContainerDisk.FileName()), view.Size(), nil
}

func setupFSCatDisk(ctx context.Context, env *Env) (*Case, error) {
	f, disk, size, err := diskCase(ctx, env, "fs-cat")
	if err != nil {
		return nil, err
	}
	plain := filepath.Join(f.dir, "plain.qcow2")
	if _, err := timeCommand(ctx, "cp", disk, plain); err != nil {
		return nil, err
	}
	return &Case{
		Ours:    Side{Label: "cat mount", Run: func(ctx context.Context, _ int) (Sample, error) { return timeCommand(ctx, "cat", disk) }},
		Theirs:  Side{Label: "cat of a plain copy in the page cache", Run: func(ctx context.Context, _ int) (Sample, error) { return timeCommand(ctx, "cat", plain) }},
		Bytes:   size,
		Notes:   "the standalone image is generated on the fly from the layer chain",
		Cleanup: f.close,
	}, nil
}

func setupFSCopyOut(ctx context.Context, env *Env) (*Case, error) {
	f, disk, size, err := diskCase(ctx, env, "fs-copyout")
	if err != nil {
		return nil, err
	}
	box, err := f.rt.Box(ctx, "x")
	if err != nil {
		return nil, err
	}
	active := filepath.Join(f.dir, "home", "boxes", box.ID(), snapshot.ContainerDisk.FileName())
	out := filepath.Join(f.dir, "out.qcow2")
	return &Case{
		Ours: Side{Label: "cp", Run: func(ctx context.Context, _ int) (Sample, error) {
			defer os.Remove(out)
			return timeCommand(ctx, "cp", disk, out)
		}},
		Theirs: Side{Label: "qemu-img convert -O qcow2 of the chain", Run: func(ctx context.Context, _ int) (Sample, error) {
			defer os.Remove(out)
			return timeCommand(ctx, "qemu-img", "convert", "-O", "qcow2", active, out)
		}},
		Bytes:   size,
		Cleanup: f.close,
	}, nil
}

// exportCase is a mounted box with 256 MiB of mixed data and the export
// settings of the box.
func exportCase(ctx context.Context, env *Env, name string) (*fsFixture, *snapshot.Box, snapshot.ExportOptions, int64, error) {
	f, _, size, err := diskCase(ctx, env, name)
	if err != nil {
		return nil, nil, snapshot.ExportOptions{}, 0, err
	}
	box, err := f.rt.Box(ctx, "x")
	if err != nil {
		f.close()
		return nil, nil, snapshot.ExportOptions{}, 0, err
	}
	settings, err := box.Settings(ctx)
	if err != nil {
		f.close()
		return nil, nil, snapshot.ExportOptions{}, 0, err
	}
	return f, box, settings.Export, size, nil
}

// inProcessExport is the reference both export scenarios compare with.
func inProcessExport(box *snapshot.Box, opts snapshot.ExportOptions) Side {
	return Side{Label: "in-process box.Export", Run: func(ctx context.Context, _ int) (Sample, error) {
		return timed(func() error { return box.Export(ctx, io.Discard, opts) })
	}}
}

func setupFSExport(ctx context.Context, env *Env) (*Case, error) {
	f, box, opts, size, err := exportCase(ctx, env, "fs-export")
	if err != nil {
		return nil, err
	}
	return &Case{
		Ours: Side{Label: "cat", Run: func(ctx context.Context, _ int) (Sample, error) {
			return timeCommand(ctx, "cat", f.path("boxes", "x", "export.boxsnap"))
		}},
		Theirs:  inProcessExport(box, opts),
		Bytes:   size,
		Notes:   "zstd level 3; MB/s of the container disk's standalone image (the guest disk is small)",
		Cleanup: f.close,
	}, nil
}

// setupFSExportHandle reads export.boxsnap as the daemon serves it (the
// spool, 512 KiB reads) without the kernel and cat: what is left of the gap
// to the in-process export is the FUSE round trip.
func setupFSExportHandle(ctx context.Context, env *Env) (*Case, error) {
	f, box, opts, size, err := exportCase(ctx, env, "fs-export-handle")
	if err != nil {
		return nil, err
	}
	log := ops.NewLog(16, env.Log)
	return &Case{
		Ours: Side{Label: "ExportHandle.Read", Run: func(ctx context.Context, _ int) (Sample, error) {
			return timed(func() error {
				h := ops.NewExportHandle(func(ctx context.Context, w io.Writer) error { return box.Export(ctx, w, opts) }, log, "x")
				defer h.Release(ctx)
				dest := make([]byte, 512<<10) // the mount's largest read
				for off := int64(0); ; {
					r, errno := h.Read(ctx, dest, off)
					if errno != 0 {
						return errno
					}
					if off += int64(r.Size()); r.Size() < len(dest) {
						return nil
					}
				}
			})
		}},
		Theirs:  inProcessExport(box, opts),
		Bytes:   size,
		Notes:   "the daemon's side of cat export.boxsnap: the spool and 512 KiB reads, no kernel",
		Cleanup: f.close,
	}, nil
}

func setupFSList(ctx context.Context, env *Env) (*Case, error) {
	f, err := mountFixture(ctx, env, "fs-list")
	if err != nil {
		return nil, err
	}
	plain := filepath.Join(f.dir, "plain")
	for i := range 1000 {
		name := fmt.Sprintf("box%04d", i)
		if _, err := f.rt.CreateBox(ctx, name, snapshot.CreateOptions{DiskSize: 64 << 20}); err != nil {
			f.close()
			return nil, err
		}
		if err := os.MkdirAll(filepath.Join(plain, name), 0o755); err != nil {
			f.close()
			return nil, err
		}
	}
	return &Case{
		Ours: Side{Label: "ls -l mount/boxes", Run: func(ctx context.Context, _ int) (Sample, error) {
			return timeCommand(ctx, "ls", "-l", f.path("boxes"))
		}},
		Theirs: Side{Label: "ls -l of 1000 plain directories", Run: func(ctx context.Context, _ int) (Sample, error) {
			return timeCommand(ctx, "ls", "-l", plain)
		}},
		Notes:   "attributes cached by the kernel for 1 s between runs at most",
		Cleanup: f.close,
	}, nil
}

// cloneFixture mounts a home holding box "src" (see sourceBox): what the
// clone scenarios copy.
func cloneFixture(ctx context.Context, env *Env, name string) (*fsFixture, error) {
	f, err := mountFixture(ctx, env, name)
	if err != nil {
		return nil, err
	}
	if _, err := sourceBox(ctx, f.rt); err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

// cpClone copies box src into clones/name with cp -r.
func (f *fsFixture) cpClone(ctx context.Context, name string) error {
	return command(ctx, "cp", "-r", f.path("boxes", "src"), f.path("clones", name))
}

func setupFSClone(ctx context.Context, env *Env) (*Case, error) {
	f, err := cloneFixture(ctx, env, "fs-clone")
	if err != nil {
		return nil, err
	}
	theirs, err := qemuSide(ctx, env, "fs-clone-qemu", "2 x qemu-img create -b (one per disk, in turn)", 2, 1)
	if err != nil {
		f.close()
		return nil, err
	}
	return &Case{
		Ours: Side{Label: "cp -r", Run: func(ctx context.Context, rep int) (Sample, error) {
			name := fmt.Sprintf("y%d", rep+1)
			s, err := timeCommand(ctx, "cp", "-r", f.path("boxes", "src"), f.path("clones", name))
			if err != nil {
				return s, err
			}
			return s, f.rt.RemoveBox(ctx, name)
		}},
		Theirs:  theirs,
		Notes:   "wall time of the cp process from its start; src has 16 MiB + 4 MiB written and snapshot v1: four disks by reference, the twelve small files copied in the daemon (copy_file_range); target <= 10 ms",
		Cleanup: f.close,
	}, nil
}

func setupFSParallelClones(ctx context.Context, env *Env) (*Case, error) {
	const n = 10
	f, err := cloneFixture(ctx, env, "fs-parallel-clones")
	if err != nil {
		return nil, err
	}
	theirs, err := qemuSide(ctx, env, "fs-parallel-clones-qemu", "20 x qemu-img create -b at once", 1, 2*n)
	if err != nil {
		f.close()
		return nil, err
	}
	return &Case{
		Ours: Side{Label: "10 x cp -r at once", Run: func(ctx context.Context, rep int) (Sample, error) {
			errs := make([]error, n)
			name := func(i int) string { return fmt.Sprintf("p%d-%d", rep+1, i) }
			s, _ := timed(func() error {
				var wg sync.WaitGroup
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						errs[i] = f.cpClone(ctx, name(i))
					}()
				}
				wg.Wait()
				return nil
			})
			for i := range n { // untimed
				errs = append(errs, f.rt.RemoveBox(ctx, name(i)))
			}
			return s, errors.Join(errs...)
		}},
		Theirs:  theirs,
		Notes:   "wall time from the first cp's start to the last one's end; target <= 50 ms",
		Cleanup: f.close,
	}, nil
}
