package qcow2

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// checkFlatten writes the chain as one standalone image and has QEMU judge
// it; then checks that streaming, random access and a second plan all give
// the same bytes.
func checkFlatten(t *testing.T, rng *rand.Rand, img *Image, c chain) {
	t.Helper()
	ctx := context.Background()
	opts := FlattenOptions{ClusterBits: []int{0, 9, 12, 16, 21}[rng.IntN(5)]}
	out := filepath.Join(c.dir, "flat.qcow2")
	if err := WriteFile(ctx, out, img, opts); err != nil {
		t.Fatalf("WriteFile %+v: %v", opts, err)
	}
	requireClean(t, out)
	requireSame(t, out, c.top())
	if chain := qemuChain(t, out); len(chain) != 1 || chain[0].VirtualSize != img.Size() {
		t.Fatalf("flattened image: qemu-img info %+v", chain)
	}

	flat, err := Flatten(ctx, img, opts)
	if err != nil {
		t.Fatal(err)
	}
	var streamed bytes.Buffer
	if n, err := flat.WriteTo(&streamed); err != nil || n != flat.Size() {
		t.Fatalf("WriteTo: %d of %d bytes: %v", n, flat.Size(), err)
	}
	onDisk, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if d := firstDiff(streamed.Bytes(), onDisk); d >= 0 {
		t.Fatalf("WriteTo and WriteFile differ at %#x", d)
	}
	checkRandomReads(t, rng, flat, streamed.Bytes())
	lay := flat.lay
	for _, edge := range []int64{lay.l1Off, lay.refTableOff, lay.refBlockOff, lay.l2Off, lay.dataOff, flat.Size()} {
		off := max(0, edge-5)
		buf := make([]byte, min(4099, flat.Size()-off))
		if _, err := flat.ReadAt(buf, off); err != nil || !bytes.Equal(buf, streamed.Bytes()[off:off+int64(len(buf))]) {
			t.Fatalf("ReadAt across the region boundary at %#x: %v", edge, err)
		}
	}

	again, err := Flatten(ctx, img, opts)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := again.WriteTo(h); err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(streamed.Bytes()); !bytes.Equal(h.Sum(nil), sum[:]) {
		t.Fatal("a second Flatten of the same chain gave different bytes")
	}
}

// checkDiff squashes the top layers of the chain into one overlay of a
// lower layer and has QEMU compare the result with the chain.
func checkDiff(t *testing.T, rng *rand.Rand, img *Image, c chain) {
	t.Helper()
	if len(c.layers) < 2 {
		return
	}
	n := 1 + rng.IntN(len(c.layers)-1)
	backing := img.Layers()[n]
	out := filepath.Join(c.dir, "diff.qcow2")
	opts := FlattenOptions{BackingFile: filepath.Base(backing.Path), BackingFormat: backing.Format}
	if err := WriteFile(context.Background(), out, img.Top(n), opts); err != nil {
		t.Fatalf("WriteFile diff over layer %d: %v", n, err)
	}
	requireClean(t, out)
	requireSame(t, out, c.top())
	chain := qemuChain(t, out)
	if len(chain) != len(c.layers)-n+1 || chain[1].Filename != backing.Path {
		t.Fatalf("diff over layer %d: qemu-img info --backing-chain shows %+v", n, chain)
	}
}

// countingSource counts the bytes read through it.
type countingSource struct {
	Source
	mu   sync.Mutex
	read int64
}

func (c *countingSource) ReadAt(p []byte, off int64) (int, error) {
	c.mu.Lock()
	c.read += int64(len(p))
	c.mu.Unlock()
	return c.Source.ReadAt(p, off)
}

func TestFlattenReadsEachDataClusterOnce(t *testing.T) {
	rng := seededRand(t)
	c := buildChain(t, rng, chainSpec{name: "once", depth: 3, size: 8 << 20, writes: 20})
	src := &countingSource{Source: openChain(t, c)}
	flat, err := Flatten(context.Background(), src, FlattenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if src.read != 0 {
		t.Fatalf("planning read %d bytes of data", src.read)
	}
	if _, err := flat.WriteTo(io.Discard); err != nil {
		t.Fatal(err)
	}
	if want := flat.lay.dataClusters * flat.lay.cluster; src.read != want {
		t.Fatalf("streaming read %d bytes of source data; the image holds %d", src.read, want)
	}
}

func TestFlattenHugeSparseDisk(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "huge.qcow2")
	must(t, "qemu-img", "create", "-f", "qcow2", src, "4T")
	qemuIO(t, src, "qcow2", "write -P 1 0 1M", "write -P 2 2T 64k", "write -z 3T 1G", "write -P 3 4398046445568 4k")
	img, err := Open(src, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	out := filepath.Join(dir, "flat.qcow2")
	if err := WriteFile(context.Background(), out, img, FlattenOptions{}); err != nil {
		t.Fatal(err)
	}
	requireClean(t, out)
	requireSame(t, out, src)
}

func TestWriteFileRefusals(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.qcow2")
	must(t, "qemu-img", "create", "-f", "qcow2", src, "64M")
	qemuIO(t, src, "qcow2", "write -P 1 0 20M")
	img, err := Open(src, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if err := WriteFile(context.Background(), src, img, FlattenOptions{}); !errors.Is(err, errdefs.ErrExists) {
		t.Fatalf("WriteFile over an existing file: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := filepath.Join(dir, "cancelled.qcow2")
	if err := WriteFile(ctx, out, img, FlattenOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled WriteFile: %v", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a cancelled WriteFile left its file behind")
	}
	flat, err := Flatten(context.Background(), img, FlattenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := flat.ReadAt(make([]byte, 10), flat.Size()); n != 0 || err != io.EOF {
		t.Fatalf("ReadAt at the end: %d, %v", n, err)
	}
	if _, err := flat.ReadAt(make([]byte, 10), -1); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("ReadAt at -1: %v", err)
	}
}
