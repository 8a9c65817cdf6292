package boxsnap

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// Benchmarks compare the archive paths with what they are built from:
// BenchmarkWrite against klauspost zstd alone on the same tar bytes, and
// BenchmarkRead against `zstd -d | tar x` followed by sha256sum.

const benchGuestSize, benchContainerSize = 96 << 20, 32 << 20

// mixedData is a disk-like mix of 64 KiB runs of text, random bytes and
// zeros, behind a qcow2 header so that testVetter accepts it.
func mixedData(n int, seed uint64) []byte {
	out := append(syntheticImage(int64(n)*2, 0), make([]byte, n-512)...)
	rng := rand.New(rand.NewPCG(seed, seed))
	text := compressibleData(64 << 10)
	for off := 512; off < n; off += 64 << 10 {
		chunk := out[off:min(off+64<<10, n)]
		switch rng.IntN(3) {
		case 0:
			copy(chunk, text[rng.IntN(1024):])
		case 1:
			for i := 0; i+8 <= len(chunk); i += 8 {
				binary.LittleEndian.PutUint64(chunk[i:], rng.Uint64())
			}
		}
	}
	return out
}

type benchInput struct {
	guest, container []byte
}

func newBenchInput() benchInput {
	return benchInput{guest: mixedData(benchGuestSize, 1), container: mixedData(benchContainerSize, 2)}
}

func (in benchInput) size() int64 { return int64(len(in.guest) + len(in.container)) }

func BenchmarkWrite(b *testing.B) {
	in := newBenchInput()
	for _, bc := range []struct {
		name string
		opts WriteOptions
	}{
		{"zstd3", WriteOptions{Compress: true, Level: 3, Concurrency: 2}},
		{"zstd1", WriteOptions{Compress: true, Level: 1, Concurrency: 2}},
		{"plain", WriteOptions{Compress: false}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(in.size())
			for b.Loop() {
				err := Write(context.Background(), io.Discard, testManifest(), bytesDisk(in.guest), bytesDisk(in.container), bc.opts)
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkZstdAlone is the bound for BenchmarkWrite/zstd3: the same tar
// bytes through the same encoder, without hashing.
func BenchmarkZstdAlone(b *testing.B) {
	in := newBenchInput()
	tarBytes := writeArchive(b, bytesDisk(in.guest), bytesDisk(in.container), WriteOptions{})
	b.SetBytes(in.size())
	for b.Loop() {
		enc, err := zstd.NewWriter(io.Discard, zstd.WithEncoderConcurrency(2))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := enc.Write(tarBytes); err != nil {
			b.Fatal(err)
		}
		if err := enc.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRead(b *testing.B) {
	in := newBenchInput()
	for _, compress := range []bool{true, false} {
		archive := writeArchive(b, bytesDisk(in.guest), bytesDisk(in.container), WriteOptions{Compress: compress, Concurrency: 2})
		b.Run(map[bool]string{true: "zstd", false: "plain"}[compress], func(b *testing.B) {
			dir := b.TempDir()
			opts := readOpts()
			opts.SkipSync = true // as the shell baseline, which does not sync either
			b.SetBytes(in.size())
			for b.Loop() {
				res, err := Read(context.Background(), bytes.NewReader(archive), dir, opts)
				if err != nil {
					b.Fatal(err)
				}
				if err := res.Remove(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkShellImport is the baseline for BenchmarkRead/zstd.
func BenchmarkShellImport(b *testing.B) {
	in := newBenchInput()
	dir := b.TempDir()
	archive := filepath.Join(dir, "a.boxsnap")
	if err := os.WriteFile(archive, writeArchive(b, bytesDisk(in.guest), bytesDisk(in.container),
		WriteOptions{Compress: true, Concurrency: 2}), 0o644); err != nil {
		b.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	script := `mkdir -p "$2" && zstd -dcq "$1" | tar -x -C "$2" && cd "$2" && sha256sum ` +
		MemberGuestDisk + " " + MemberContainerDisk + ` >/dev/null && cd / && rm -rf "$2"`
	b.SetBytes(in.size())
	for b.Loop() {
		if out, err := exec.Command("sh", "-c", script, "sh", archive, out).CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
	}
}
