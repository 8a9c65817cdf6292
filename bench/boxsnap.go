package main

import (
	"archive/tar"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/boxlite-ai/boxlitefs/core/boxsnap"
	"github.com/boxlite-ai/boxlitefs/core/qcow2"
	"github.com/klauspost/compress/zstd"
)

// The export and import of a box as issue 4 measures them: 1 GiB of mixed
// data (text, random, zeros) in each of its two disks, both chains of
// layers flattened into one .boxsnap.

// containerChain is the box's second disk, as large as the guest disk.
func containerChain() chainSpec {
	return chainSpec{name: "mixed-1g-depth2", size: 1 << 30, depth: 2, baseFill: 0.7,
		overlayWrites: 16, writeSize: 1 << 20, seed: 4}
}

func boxsnapScenarios() []Scenario {
	return []Scenario{
		{Area: "boxsnap", Name: "export: flatten, sha256, tar, zstd -3 vs zstd alone", Reps: 5, Setup: setupExportVsZstd},
		{Area: "boxsnap", Name: "export vs qemu-img convert of both disks, then tar -I 'zstd -3 -T0'", Reps: 5, Setup: setupExportVsShell},
		{Area: "boxsnap", Name: "import: zstd -d, sha256, stage, check vs zstd -d piped to tar x, sha256sum, qemu-img check", Reps: 5, Setup: setupImportVsShell},
		{Area: "boxsnap", Name: "import in 128 KiB writes (as through FUSE) vs one reader", Reps: 5, Setup: setupImporterVsRead},
	}
}

func boxsnapChildOps() map[string]childOp {
	return map[string]childOp{
		"boxsnap-export":   exportChild,
		"boxsnap-zstd":     zstdChild,
		"boxsnap-import":   importChild,
		"boxsnap-importer": importerChild,
	}
}

// boxPair is what the box scenarios share: both chains, the plain tar of
// their flattened images and the .boxsnap.
type boxPair struct {
	guest, container string // top layers of the chains
	tar, archive     string
	bytes            int64 // both flattened images
}

func preparePair(ctx context.Context, env *Env) (*boxPair, error) {
	g, err := buildChain(ctx, env.Dir, mixedDepth5())
	if err != nil {
		return nil, err
	}
	c, err := buildChain(ctx, env.Dir, containerChain())
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(env.Dir, "boxsnap")
	p := &boxPair{guest: g.top(), container: c.top(),
		tar: filepath.Join(dir, "box.tar"), archive: filepath.Join(dir, "box.boxsnap")}
	if _, err := os.Stat(p.archive); err == nil {
		return p, p.measure()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// In child processes, so that this one stays small: a child's peak RSS
	// as the kernel reports it starts from its parent's.
	if _, err := env.inChild(ctx, "boxsnap-export", p.guest, p.container, p.tar, "plain"); err != nil {
		return nil, err
	}
	if _, err := env.inChild(ctx, "boxsnap-export", p.guest, p.container, p.archive); err != nil {
		return nil, err
	}
	return p, p.measure()
}

// measure sums the disk members of the plain tar: the bytes of both
// flattened images.
func (p *boxPair) measure() error {
	f, err := os.Open(p.tar)
	if err != nil {
		return err
	}
	defer f.Close()
	p.bytes = 0
	tr := tar.NewReader(f) // f is seekable: the data is skipped, not read
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if hdr.Name != boxsnap.MemberManifest {
			p.bytes += hdr.Size
		}
	}
}

func openChain(top string) (*qcow2.Image, error) {
	return qcow2.Open(top, qcow2.OpenOptions{AllowBacking: qcow2.AllowUnder(filepath.Dir(top))})
}

// exportPair writes the archive of two chains to out, as Box.Export does:
// each chain flattened on the fly.
func exportPair(ctx context.Context, guest, container, out string, compress bool) error {
	var disks [2]boxsnap.Disk
	for i, top := range []string{guest, container} {
		img, err := openChain(top)
		if err != nil {
			return err
		}
		defer img.Close()
		flat, err := qcow2.Flatten(ctx, img, qcow2.FlattenOptions{})
		if err != nil {
			return err
		}
		disks[i] = boxsnap.Disk{Size: flat.Size(), WriteTo: flat.WriteToContext}
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	err = boxsnap.Write(ctx, f, boxsnap.Manifest{BoxName: "bench", Image: "alpine:latest"}, disks[0], disks[1],
		boxsnap.WriteOptions{Compress: compress, Level: 3, Concurrency: 2})
	return errors.Join(err, f.Close())
}

func exportChild(ctx context.Context, args []string) error {
	if len(args) < 3 || len(args) > 4 || len(args) == 4 && args[3] != "plain" {
		return fmt.Errorf("usage: boxsnap-export GUEST CONTAINER OUT [plain]")
	}
	return exportPair(ctx, args[0], args[1], args[2], len(args) == 3)
}

// zstdChild compresses args[0] into args[1] with the encoder and settings
// Write uses, and nothing else.
func zstdChild(ctx context.Context, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: boxsnap-zstd IN OUT")
	}
	in, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(args[1])
	if err != nil {
		return err
	}
	enc, err := zstd.NewWriter(out, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(3)), zstd.WithEncoderConcurrency(2))
	if err != nil {
		return err
	}
	_, err = io.CopyBuffer(enc, in, make([]byte, 1<<20))
	return errors.Join(err, enc.Close(), out.Close())
}

// checkVetter verifies a staged image as the engine's does: every table
// (qcow2.Inspect), no backing file, and refcounts that qemu-img check
// would find clean (qcow2.Check).
type checkVetter struct{}

func (checkVetter) MaxFileSize(head []byte) (int64, error) {
	if len(head) < 32 || binary.BigEndian.Uint32(head) != 0x514649fb || binary.BigEndian.Uint64(head[8:]) != 0 {
		return 0, errors.New("not a standalone qcow2 image")
	}
	virtual := int64(binary.BigEndian.Uint64(head[24:]))
	return virtual + virtual/8 + 64<<20, nil
}

func (checkVetter) Verify(f *os.File, size int64) error {
	info, err := qcow2.Inspect(f, size)
	if err != nil {
		return err
	}
	if info.BackingFile != "" {
		return errors.New("has a backing file")
	}
	res, err := qcow2.Check(context.Background(), f.Name())
	if err != nil {
		return err
	}
	if res.Corruptions > 0 || res.Leaks > 0 {
		return fmt.Errorf("%d corruptions, %d leaks", res.Corruptions, res.Leaks)
	}
	return nil
}

func importOptions() boxsnap.ReadOptions {
	// tar x does not sync either.
	return boxsnap.ReadOptions{Vetter: checkVetter{}, SkipSync: true}
}

func importChild(ctx context.Context, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: boxsnap-import ARCHIVE DIR")
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = boxsnap.Read(ctx, f, args[1], importOptions())
	return err
}

// importerChild feeds the archive to an Importer in 128 KiB writes, the
// size FUSE delivers them in.
func importerChild(ctx context.Context, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: boxsnap-importer ARCHIVE DIR")
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	imp, err := boxsnap.NewImporter(ctx, args[1], importOptions())
	if err != nil {
		return err
	}
	defer imp.Abort()
	if _, err := io.CopyBuffer(struct{ io.Writer }{imp}, f, make([]byte, 128<<10)); err != nil {
		return err
	}
	_, err = imp.Close()
	return err
}

// creating runs one side that creates out (a file, or a directory made
// beforehand when isDir) and removes it afterwards, untimed.
func creating(out string, isDir bool, run func(ctx context.Context) (Sample, error)) func(context.Context, int) (Sample, error) {
	return func(ctx context.Context, _ int) (Sample, error) {
		if isDir {
			if err := os.MkdirAll(out, 0o755); err != nil {
				return Sample{}, err
			}
		}
		s, err := run(ctx)
		return s, errors.Join(err, os.RemoveAll(out))
	}
}

// childSide runs child operation op with args, which create out.
func childSide(env *Env, label, out string, isDir bool, op string, args ...string) Side {
	return Side{Label: label, Run: creating(out, isDir, func(ctx context.Context) (Sample, error) {
		return env.inChild(ctx, op, args...)
	})}
}

// shellSide runs a shell script with args, which create out.
func shellSide(label, out string, isDir bool, script string, args ...string) Side {
	return Side{Label: label, Run: creating(out, isDir, func(ctx context.Context) (Sample, error) {
		return timeCommand(ctx, "sh", append([]string{"-c", script, "sh"}, args...)...)
	})}
}

// bothDisks names the two images for a shell command line.
const bothDisks = boxsnap.MemberGuestDisk + " " + boxsnap.MemberContainerDisk

func setupExportVsZstd(ctx context.Context, env *Env) (*Case, error) {
	p, err := preparePair(ctx, env)
	if err != nil {
		return nil, err
	}
	out := filepath.Join(env.Dir, "boxsnap", "out")
	return &Case{
		Ours:      childSide(env, "boxsnap.Write", out, false, "boxsnap-export", p.guest, p.container, out),
		Theirs:    childSide(env, "klauspost zstd alone on the same tar", out, false, "boxsnap-zstd", p.tar, out),
		Bytes:     p.bytes,
		ReportRSS: true,
		Ratio:     percentOf("zstd alone"),
		Notes: "MB/s of flattened image; ours flattens both chains (1 GiB depth 5, 1 GiB depth 2) as it goes; " +
			"both level 3, 2 encoder goroutines, write a file; each in a child process",
	}, nil
}

func setupExportVsShell(ctx context.Context, env *Env) (*Case, error) {
	p, err := preparePair(ctx, env)
	if err != nil {
		return nil, err
	}
	out := filepath.Join(env.Dir, "boxsnap", "out")
	archive := filepath.Join(out, "box.boxsnap")
	script := `qemu-img convert -O qcow2 "$1" "$3/` + boxsnap.MemberGuestDisk + `" && ` +
		`qemu-img convert -O qcow2 "$2" "$3/` + boxsnap.MemberContainerDisk + `" && ` +
		`tar -C "$3" -I 'zstd -3 -T0' -cf "$4" ` + bothDisks
	return &Case{
		Ours:      childSide(env, "boxsnap.Write", out, true, "boxsnap-export", p.guest, p.container, archive),
		Theirs:    shellSide("qemu-img convert x2, tar -I 'zstd -3 -T0' -cf", out, true, script, p.guest, p.container, out, archive),
		Bytes:     p.bytes,
		ReportRSS: true,
		Notes:     "both start from the chains of layers; ours also hashes both disks for the manifest",
	}, nil
}

func setupImportVsShell(ctx context.Context, env *Env) (*Case, error) {
	p, err := preparePair(ctx, env)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(env.Dir, "boxsnap", "staged")
	script := `zstd -dcq "$1" | tar -x -C "$2" && cd "$2" && sha256sum ` + bothDisks + " >/dev/null" +
		` && qemu-img check -q ` + boxsnap.MemberGuestDisk + ` && qemu-img check -q ` + boxsnap.MemberContainerDisk
	return &Case{
		Ours:      childSide(env, "boxsnap.Read", dir, true, "boxsnap-import", p.archive, dir),
		Theirs:    shellSide("zstd -d, tar x, sha256sum, qemu-img check", dir, true, script, p.archive, dir),
		Bytes:     p.bytes,
		ReportRSS: true,
		Notes: "MB/s of image staged; ours also checks the checksums against the manifest and vets both images " +
			"as the engine does (qcow2.Inspect and qcow2.Check); neither syncs",
	}, nil
}

func setupImporterVsRead(ctx context.Context, env *Env) (*Case, error) {
	p, err := preparePair(ctx, env)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(env.Dir, "boxsnap", "staged")
	return &Case{
		Ours:      childSide(env, "boxsnap.Importer", dir, true, "boxsnap-importer", p.archive, dir),
		Theirs:    childSide(env, "boxsnap.Read", dir, true, "boxsnap-import", p.archive, dir),
		Bytes:     p.bytes,
		ReportRSS: true,
		Ratio:     percentOf("Read"),
		Notes:     "the cost of answering each write with its verdict",
	}, nil
}

// percentOf reports ours as a share of theirs' throughput.
func percentOf(what string) func(ours, theirs Stats) string {
	return func(ours, theirs Stats) string {
		return fmt.Sprintf("%.0f%% of %s", 100*theirs.P50.Seconds()/ours.P50.Seconds(), what)
	}
}
