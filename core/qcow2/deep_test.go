package qcow2

import (
	"fmt"
	"path/filepath"
	"testing"
)

// TestDeepChain builds a chain of 300 layers (the spec asks for at least
// 256) with Create, has QEMU write into a few of them, and reads it.
func TestDeepChain(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const depth = 300
	prev := ""
	for i := range depth {
		path := filepath.Join(dir, fmt.Sprintf("l%03d.qcow2", i))
		opts := CreateOptions{ClusterBits: []int{16, 12, 9}[i%3]}
		if prev != "" {
			opts.BackingFile, opts.BackingFormat = filepath.Base(prev), FormatQcow2
		}
		if err := Create(path, 2<<20, opts); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			qemuIO(t, path, "qcow2", fmt.Sprintf("write -P %d %d 300k", i+1, i*4096), fmt.Sprintf("write -z %d 5k", i*7000))
		}
		prev = path
	}
	img, err := Open(prev, OpenOptions{AllowBacking: AllowUnder(dir)})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if n := len(img.Layers()); n != depth {
		t.Fatalf("%d layers", n)
	}
	if d := firstDiff(readAll(t, img), qemuRaw(t, prev)); d >= 0 {
		t.Fatalf("depth-%d chain reads differently from qemu-img at %#x", depth, d)
	}
}
