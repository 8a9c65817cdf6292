package qcow2

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// fuzzAllocLimit is what one fuzzed input may make the package allocate
// beyond a multiple of its size: a decompressed cluster of up to 2 MiB and a
// zstd window are justified by the format, not by the file.
const fuzzAllocLimit = 16 << 20

// seedImages has QEMU write small images (512-byte clusters, so a few KiB
// each) that cover the format's features, as the fuzzers' seed corpus. They
// are kept tiny because the fuzzer minimises every new input byte by byte.
func seedImages(f *testing.F) [][]byte {
	f.Helper()
	dir := f.TempDir()
	var seeds [][]byte
	add := func(name string, create []string, io ...string) string {
		path := filepath.Join(dir, name)
		must(f, "qemu-img", append(append([]string{"create", "-f", "qcow2"}, create...), path, "16k")...)
		qemuIO(f, path, "qcow2", io...)
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, data)
		return path
	}
	writes := []string{"write -P 1 0 1k", "write -z 8k 1k", "write -P 2 12000 700", "discard 1k 512"}
	add("v3.qcow2", []string{"-o", "cluster_size=512"}, writes...)
	add("v2.qcow2", []string{"-o", "cluster_size=512,compat=0.10"}, writes...)
	add("refcount1.qcow2", []string{"-o", "cluster_size=512,refcount_bits=1"}, writes...)
	base := add("base.qcow2", []string{"-o", "cluster_size=1024"}, "write -P 3 0 4k", "write -P 4 13k 1k")
	add("overlay.qcow2", []string{"-o", "cluster_size=512", "-b", base, "-F", "qcow2"}, writes...)
	for _, kind := range []string{"zlib", "zstd"} {
		path := filepath.Join(dir, kind+".qcow2")
		must(f, "qemu-img", "convert", "-c", "-O", "qcow2", "-o", "cluster_size=512,compression_type="+kind, base, path)
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, data)
	}
	return seeds
}

func FuzzInspect(f *testing.F) {
	for _, s := range seedImages(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var info *Info
		var err error
		allocated := allocatedBy(func() { info, err = Inspect(bytes.NewReader(data), int64(len(data))) })
		if err == nil && (info.VirtualSize < 0 || info.ClusterBits < minClusterBits) {
			t.Fatalf("Inspect accepted nonsense: %+v", info)
		}
		if limit := uint64(8*len(data) + fuzzAllocLimit); allocated > limit {
			t.Fatalf("Inspect of %d bytes allocated %d", len(data), allocated)
		}
		// Peek reads a subset of what Inspect validates: it accepts what
		// Inspect accepts, and agrees on what is there.
		var size int64
		var mapped bool
		var perr error
		allocated = allocatedBy(func() { size, mapped, perr = Peek(bytes.NewReader(data), int64(len(data))) })
		if limit := uint64(8*len(data) + fuzzAllocLimit); allocated > limit {
			t.Fatalf("Peek of %d bytes allocated %d", len(data), allocated)
		}
		if err == nil {
			empty := info.DataClusters+info.ZeroClusters+info.CompressedClusters == 0 && info.Snapshots == 0
			if perr != nil || size != info.VirtualSize || (!mapped && !empty) {
				t.Fatalf("Peek = %d, %v, %v; Inspect = %+v", size, mapped, perr, info)
			}
		}
	})
}

func FuzzReadAt(f *testing.F) {
	for _, s := range seedImages(f) {
		f.Add(s)
	}
	// One file per process, rewritten for each input: inputs run one at a
	// time, and a new directory per input would dominate the run time.
	path := filepath.Join(f.TempDir(), "fuzz.img")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		allocated := allocatedBy(func() { readFuzzed(path) })
		if limit := uint64(8*len(data) + fuzzAllocLimit); allocated > limit {
			t.Fatalf("reading a %d-byte image allocated %d", len(data), allocated)
		}
	})
}

// readFuzzed opens an image and reads a little of it everywhere; errors are
// expected, panics and runaway allocation are not.
func readFuzzed(path string) {
	img, err := Open(path, OpenOptions{CacheBytes: 1 << 20})
	if err != nil {
		return
	}
	defer img.Close()
	buf := make([]byte, 64<<10)
	size := img.Size()
	for _, off := range []int64{0, size / 2, max(0, size-int64(len(buf)))} {
		if _, err := img.ReadAt(buf, off); err != nil && err != io.EOF {
			return
		}
	}
	enough := errors.New("enough") // a huge, fragmented disk: stop early
	extents := 0
	_ = img.Extents(context.Background(), 0, size, func(Extent) error {
		if extents++; extents > 10000 {
			return enough
		}
		return nil
	})
}
