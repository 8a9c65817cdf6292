package qcow2

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"testing"
	"time"
)

// chainSpecs is the matrix of generated chains every round-trip test runs.
func chainSpecs() []chainSpec {
	return []chainSpec{
		{name: "single-v3", depth: 1, size: 4 << 20, writes: 30},
		{name: "single-v2", depth: 1, size: 4<<20 + 512, compat: "0.10", writes: 30},
		{name: "depth3-mixed-clusters", depth: 3, size: 3 << 20, clusterBits: []int{9, 12, 16}, writes: 15},
		{name: "depth5-2MiB-clusters", depth: 5, size: 6 << 20, clusterBits: []int{21, 16}, writes: 10},
		{name: "raw-base", depth: 4, size: 3<<20 + 4096 + 512, rawBase: true, writes: 12},
		{name: "raw-single", depth: 1, size: 2 << 20, rawBase: true, writes: 12},
		{name: "growing-overlays", depth: 6, size: 1 << 20, grow: 384 << 10, clusterBits: []int{12, 14}, writes: 8},
		{name: "v2-chain", depth: 8, size: 2 << 20, compat: "0.10", clusterBits: []int{10, 16}, writes: 6},
		{name: "zlib", depth: 3, size: 3 << 20, compress: "zlib", writes: 20},
		{name: "zstd", depth: 3, size: 3 << 20, compress: "zstd", clusterBits: []int{13}, writes: 20},
		{name: "zstd-512B", depth: 2, size: 1 << 20, compress: "zstd", clusterBits: []int{9}, writes: 20},
		{name: "zlib-2MiB", depth: 2, size: 5 << 20, compress: "zlib", clusterBits: []int{21}, writes: 20},
		{name: "deep50", depth: 50, size: 2 << 20, clusterBits: []int{16, 12, 9}, writes: 3},
		{name: "chain-map-regions", depth: 4, size: 3<<regionBits + 65536, clusterBits: []int{16, 12}, writes: 40},
	}
}

// seededRand returns a PRNG and logs its seed so a failure can be replayed.
func seededRand(t testing.TB) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

func openChain(t testing.TB, c chain) *Image {
	t.Helper()
	img, err := Open(c.top(), OpenOptions{AllowBacking: AllowUnder(c.dir)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = img.Close() })
	return img
}

// TestGeneratedChains builds each chain of the matrix with QEMU, then
// checks every operation of the package on it against QEMU.
func TestGeneratedChains(t *testing.T) {
	for _, spec := range chainSpecs() {
		t.Run(spec.name, func(t *testing.T) {
			t.Parallel()
			rng := seededRand(t)
			c := buildChain(t, rng, spec)
			img := openChain(t, c)
			want := qemuRaw(t, c.top())
			checkRead(t, rng, img, c, want)
			checkFlatten(t, rng, img, c)
			checkDiff(t, rng, img, c)
			checkChecks(t, c)
		})
	}
}

// checkRead compares ReadAt, Layers and Extents with qemu-img.
func checkRead(t *testing.T, rng *rand.Rand, img *Image, c chain, want []byte) {
	t.Helper()
	if img.Size() != int64(len(want)) {
		t.Fatalf("Size %d, qemu-img says %d", img.Size(), len(want))
	}
	if d := firstDiff(readAll(t, img), want); d >= 0 {
		t.Fatalf("content differs from qemu-img convert at %#x", d)
	}
	checkRandomReads(t, rng, img, want)
	for edge := int64(1 << regionBits); edge < img.Size(); edge += 1 << regionBits {
		buf := make([]byte, 10000)
		if _, err := img.ReadAt(buf, edge-5000); err != nil || !bytes.Equal(buf, want[edge-5000:edge+5000]) {
			t.Fatalf("read across the chain-map region boundary at %#x: %v", edge, err)
		}
	}
	checkLayers(t, img, c)
	checkExtentsMatchQemuMap(t, img, c)
}

// checkRandomReads reads random ranges, some past the end, concurrently.
func checkRandomReads(t *testing.T, rng *rand.Rand, src io.ReaderAt, want []byte) {
	t.Helper()
	type job struct{ off, n int64 }
	jobs := make([]job, 200)
	for i := range jobs {
		off := rng.Int64N(int64(len(want)) + 1)
		jobs[i] = job{off, rng.Int64N(300<<10) + 1}
	}
	errs := make(chan string, len(jobs))
	for _, j := range jobs {
		go func() {
			buf := make([]byte, j.n)
			n, err := src.ReadAt(buf, j.off)
			end := min(j.off+j.n, int64(len(want)))
			switch {
			case int64(n) != end-j.off:
				errs <- "short read"
			case int64(n) < j.n && err == nil:
				errs <- "no EOF past the end"
			case int64(n) == j.n && err != nil:
				errs <- err.Error()
			case !bytes.Equal(buf[:n], want[j.off:end]):
				errs <- "content differs"
			default:
				errs <- ""
			}
		}()
	}
	for range jobs {
		if msg := <-errs; msg != "" {
			t.Fatalf("random ReadAt: %s", msg)
		}
	}
}

func checkLayers(t *testing.T, img *Image, c chain) {
	t.Helper()
	layers := img.Layers()
	if len(layers) != len(c.layers) {
		t.Fatalf("%d layers, built %d", len(layers), len(c.layers))
	}
	qemu := qemuChain(t, c.top())
	for i, l := range layers {
		if l.Path != c.layers[i] || string(l.Format) != c.formats[i] {
			t.Fatalf("layer %d is %s (%s), built %s (%s)", i, l.Path, l.Format, c.layers[i], c.formats[i])
		}
		q := qemu[i]
		if l.Size != q.VirtualSize || string(l.Format) != q.Format || l.BackingFile != q.BackingFilename ||
			string(l.BackingFormat) != q.BackingFilenameFormat || (l.Format == FormatQcow2 && l.ClusterSize != q.ClusterSize) {
			t.Fatalf("layer %d: %+v; qemu-img info says %+v", i, l, q)
		}
	}
}

// checkExtentsMatchQemuMap compares the allocation map with qemu-img map:
// the same ranges hold data, decided by the same layer.
func checkExtentsMatchQemuMap(t *testing.T, img *Image, c chain) {
	t.Helper()
	type owner struct {
		data  bool
		layer int
	}
	const sector = 512
	ours := make([]owner, ceilDiv(img.Size(), sector))
	next := int64(0)
	err := img.Extents(context.Background(), 0, img.Size(), func(e Extent) error {
		if e.Offset != next || e.Length <= 0 {
			t.Fatalf("extent %+v does not follow %#x", e, next)
		}
		next = e.Offset + e.Length
		for s := e.Offset / sector; s < ceilDiv(next, sector); s++ {
			if e.Kind == Data {
				ours[s] = owner{true, e.Layer}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if next != img.Size() {
		t.Fatalf("extents end at %#x, size %#x", next, img.Size())
	}
	for _, m := range qemuMap(t, c.top()) {
		for s := m.Start / sector; s < ceilDiv(m.Start+m.Length, sector); s++ {
			if m.Data != ours[s].data || (m.Data && m.Depth != ours[s].layer) {
				t.Fatalf("sector %#x: qemu-img map says data=%v depth=%d, Extents says %+v", s*sector, m.Data, m.Depth, ours[s])
			}
		}
	}
}
