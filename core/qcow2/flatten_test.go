package qcow2

import (
	"bytes"
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
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
