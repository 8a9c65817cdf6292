package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/boxlite-ai/boxlitefs/core/qcow2"
	"github.com/klauspost/compress/zstd"
	"github.com/lima-vm/go-qcow2reader"
	lima "github.com/lima-vm/go-qcow2reader/image/qcow2"
)

// mixedDepth5 is the 1 GiB chain of the flatten and read scenarios: 70% of
// the base allocated, four overlays that each rewrite 24 MiB.
func mixedDepth5() chainSpec {
	return chainSpec{name: "mixed-1g-depth5", size: 1 << 30, depth: 5, baseFill: 0.7,
		overlayWrites: 24, writeSize: 1 << 20, seed: 1}
}

// deep100 is a chain of 99 small overlays, as many snapshots make.
func deep100() chainSpec {
	return chainSpec{name: "mixed-256m-depth100", size: 256 << 20, depth: 100, baseFill: 0.8,
		overlayWrites: 4, writeSize: 64 << 10, seed: 2}
}

// empty100 is a chain of 99 empty overlays: snapshots with nothing written
// in between, so only the cost of looking through the layers differs.
func empty100() chainSpec {
	return chainSpec{name: "mixed-256m-empty100", size: 256 << 20, depth: 100, baseFill: 0.8, seed: 2}
}

func qcow2Scenarios() []Scenario {
	return []Scenario{
		{Area: "qcow2", Name: "overlay create (fsync'd)", Reps: 50, Setup: setupOverlayCreate},
		{Area: "qcow2", Name: "flatten 1 GiB mixed depth-5 chain to a file, synced", Reps: 5, Setup: setupFlatten},
		{Area: "qcow2", Name: "flatten 1 GiB mixed depth-5 chain as a stream, not synced", Reps: 5, Setup: setupFlattenStream},
		{Area: "qcow2", Name: "sequential read, 1 GiB mixed depth-5 chain", Reps: 11, Setup: setupSeqRead},
		{Area: "qcow2", Name: "sequential read, zstd-compressed image", Reps: 7, Setup: setupZstdRead},
		{Area: "qcow2", Name: "sequential read, 99 empty overlays vs their base", Reps: 21, Setup: setupEmptyDeepRead},
		{Area: "qcow2", Name: "sequential read, depth 100 vs depth 1", Reps: 21, Setup: setupDeepRead},
	}
}

func qcow2ChildOps() map[string]childOp {
	return map[string]childOp{
		"qcow2-flatten": func(ctx context.Context, args []string) error {
			return withChain(args, func(img *qcow2.Image, dst string) error {
				return qcow2.WriteFile(ctx, dst, img, qcow2.FlattenOptions{})
			})
		},
		"qcow2-flatten-stream": func(ctx context.Context, args []string) error {
			return withChain(args, func(img *qcow2.Image, dst string) error {
				return streamToFile(ctx, img, dst)
			})
		},
	}
}

// withChain opens the chain args[0] and runs f with it and args[1].
func withChain(args []string, f func(img *qcow2.Image, dst string) error) error {
	if len(args) != 2 {
		return fmt.Errorf("want SRC DST, got %q", args)
	}
	img, err := qcow2.Open(args[0], qcow2.OpenOptions{AllowBacking: qcow2.AllowUnder(filepath.Dir(args[0]))})
	if err != nil {
		return err
	}
	defer img.Close()
	return f(img, args[1])
}

// streamToFile writes Flat.WriteTo's stream to a new file, as a pipe or an
// archive would receive it; nothing is synced.
func streamToFile(ctx context.Context, img *qcow2.Image, dst string) error {
	flat, err := qcow2.Flatten(ctx, img, qcow2.FlattenOptions{})
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := flat.WriteToContext(ctx, out); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func setupOverlayCreate(ctx context.Context, env *Env) (*Case, error) {
	dir := filepath.Join(env.Dir, "overlay-create")
	if err := os.RemoveAll(dir); err != nil { // left by an earlier run in the same -dir
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	base := filepath.Join(dir, "base.qcow2")
	if err := qcow2.Create(base, 1<<30, qcow2.CreateOptions{}); err != nil {
		return nil, err
	}
	overlay := filepath.Join(dir, "overlay.qcow2")
	// Each side creates the overlay, then (untimed) removes it.
	once := func(create func() error) func(context.Context, int) (Sample, error) {
		return func(context.Context, int) (Sample, error) {
			s, err := timed(create)
			if err != nil {
				return s, err
			}
			return s, os.Remove(overlay)
		}
	}
	return &Case{
		Ours: Side{Label: "qcow2.Create", Run: once(func() error {
			return qcow2.Create(overlay, 1<<30, qcow2.CreateOptions{BackingFile: "base.qcow2", BackingFormat: qcow2.FormatQcow2})
		})},
		Theirs: Side{Label: "qemu-img create -f qcow2 -b base -F qcow2", Run: once(func() error {
			return command(ctx, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", overlay)
		})},
		Notes: "1 GiB overlay of a qcow2 base; ours in-process, file and directory fsync'd",
	}, nil
}

// flattenCase compares child operation op of ours with a qemu-img convert
// run with extra arguments, both writing the same new file.
func flattenCase(ctx context.Context, env *Env, op string, qemuArgs []string, notes string) (*Case, error) {
	c, err := buildChain(ctx, env.Dir, mixedDepth5())
	if err != nil {
		return nil, err
	}
	out := filepath.Join(env.Dir, "flat.qcow2")
	// Each side writes a new file, which is removed (untimed) afterwards.
	then := func(s Sample, err error) (Sample, error) {
		if err != nil {
			return s, err
		}
		return s, os.Remove(out)
	}
	convert := append(append([]string{"convert"}, qemuArgs...), "-O", "qcow2", c.top(), out)
	return &Case{
		Ours: Side{Label: op, Run: func(ctx context.Context, _ int) (Sample, error) {
			return then(env.inChild(ctx, op, c.top(), out))
		}},
		Theirs: Side{Label: "qemu-img " + strings.Join(convert[:len(convert)-2], " "), Run: func(ctx context.Context, _ int) (Sample, error) {
			return then(timeCommand(ctx, "qemu-img", convert...))
		}},
		Bytes:     mixedDepth5().size,
		ReportRSS: true,
		Notes:     notes,
	}, nil
}

func setupFlatten(ctx context.Context, env *Env) (*Case, error) {
	return flattenCase(ctx, env, "qcow2-flatten", []string{"-t", "writeback"},
		"MB/s of virtual disk; qcow2.WriteFile (sparse, parallel, fsync'd) vs qemu-img with a final flush "+
			"(its default -t unsafe skips it); each in a child process")
}

func setupFlattenStream(ctx context.Context, env *Env) (*Case, error) {
	return flattenCase(ctx, env, "qcow2-flatten-stream", nil,
		"MB/s of virtual disk; Flat.WriteTo into a new file (one sequential stream, as export uses) "+
			"vs qemu-img's default (-t unsafe: no flush); each in a child process")
}

// readSequentially reads all of ra in 1 MiB requests.
func readSequentially(ra io.ReaderAt, size int64) error {
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(buf)) {
		if _, err := ra.ReadAt(buf[:min(int64(len(buf)), size-off)], off); err != nil && err != io.EOF {
			return err
		}
	}
	return nil
}

// readOurs opens path's chain with this package and reads it all.
func readOurs(path string) func(context.Context, int) (Sample, error) {
	return func(context.Context, int) (Sample, error) {
		return timed(func() error {
			img, err := qcow2.Open(path, qcow2.OpenOptions{AllowBacking: qcow2.AllowUnder(filepath.Dir(path))})
			if err != nil {
				return err
			}
			defer img.Close()
			return readSequentially(img, img.Size())
		})
	}
}

// readOpened opens path's chain (untimed), then times reading it all.
func readOpened(path string) func(context.Context, int) (Sample, error) {
	return func(context.Context, int) (Sample, error) {
		img, err := qcow2.Open(path, qcow2.OpenOptions{AllowBacking: qcow2.AllowUnder(filepath.Dir(path))})
		if err != nil {
			return Sample{}, err
		}
		defer img.Close()
		return timed(func() error { return readSequentially(img, img.Size()) })
	}
}

// readLima opens path's chain with go-qcow2reader and reads it all.
func readLima(path string) func(context.Context, int) (Sample, error) {
	return func(context.Context, int) (Sample, error) {
		return timed(func() error {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			img, err := qcow2reader.Open(f)
			if err != nil {
				f.Close()
				return err
			}
			defer img.Close()
			if err := img.Readable(); err != nil {
				return err
			}
			return readSequentially(img, img.Size())
		})
	}
}

func setupSeqRead(ctx context.Context, env *Env) (*Case, error) {
	c, err := buildChain(ctx, env.Dir, mixedDepth5())
	if err != nil {
		return nil, err
	}
	return &Case{
		Ours:   Side{Label: "qcow2.Image", Run: readOurs(c.top())},
		Theirs: Side{Label: "go-qcow2reader v0.7.0", Run: readLima(c.top())},
		Bytes:  mixedDepth5().size,
		Notes:  "in-process, 1 MiB reads, page cache warm",
	}, nil
}

func setupZstdRead(ctx context.Context, env *Env) (*Case, error) {
	spec := chainSpec{name: "mixed-256m-zstd", size: 256 << 20, depth: 1, baseFill: 0.8, seed: 3}
	c, err := buildChain(ctx, env.Dir, spec)
	if err != nil {
		return nil, err
	}
	compressed := filepath.Join(env.Dir, spec.name, "compressed.qcow2")
	if err := command(ctx, "qemu-img", "convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd", c.top(), compressed); err != nil {
		return nil, err
	}
	// go-qcow2reader has no zstd decompressor of its own; registering one is
	// process-wide, which this package avoids, but is fine in a benchmark.
	lima.SetDecompressor(lima.CompressionTypeZstd, func(r io.Reader) (io.ReadCloser, error) {
		d, err := zstd.NewReader(r)
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	})
	return &Case{
		Ours:   Side{Label: "qcow2.Image", Run: readOurs(compressed)},
		Theirs: Side{Label: "go-qcow2reader v0.7.0", Run: readLima(compressed)},
		Bytes:  spec.size,
		Notes:  "256 MiB, qemu-img convert -c -o compression_type=zstd; in-process, 1 MiB reads",
	}, nil
}

// shareOfDepth1 shows the deep chain's throughput as a share of the shallow one's.
func shareOfDepth1(ours, theirs Stats) string {
	return fmt.Sprintf("%.0f%% of depth 1", 100*theirs.P50.Seconds()/ours.P50.Seconds())
}

func setupEmptyDeepRead(ctx context.Context, env *Env) (*Case, error) {
	spec := empty100()
	c, err := buildChain(ctx, env.Dir, spec)
	if err != nil {
		return nil, err
	}
	return &Case{
		Ours:   Side{Label: "depth 100", Run: readOpened(c.top())},
		Theirs: Side{Label: "depth 1 (the base alone)", Run: readOpened(c.layers[len(c.layers)-1])},
		Bytes:  spec.size,
		Ratio:  shareOfDepth1,
		Notes: "the cost of looking through layers alone; qcow2.Image, opened untimed (the L2 tables " +
			"are loaded by the timed read); 256 MiB base",
	}, nil
}

func setupDeepRead(ctx context.Context, env *Env) (*Case, error) {
	spec := deep100()
	c, err := buildChain(ctx, env.Dir, spec)
	if err != nil {
		return nil, err
	}
	single := filepath.Join(env.Dir, spec.name, "flattened.qcow2")
	if err := command(ctx, "qemu-img", "convert", "-O", "qcow2", c.top(), single); err != nil {
		return nil, err
	}
	return &Case{
		Ours:   Side{Label: "depth 100", Run: readOpened(c.top())},
		Theirs: Side{Label: "depth 1 (same content, qemu-img convert)", Run: readOpened(single)},
		Bytes:  spec.size,
		Ratio:  shareOfDepth1,
		Notes: "qcow2.Image, opened untimed (the L2 tables are loaded by the timed read); " +
			"99 overlays of 4 x 64 KiB writes over a 256 MiB base",
	}, nil
}
