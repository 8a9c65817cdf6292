package qcow2

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// chainSpec describes a chain for QEMU to build: a base (raw or qcow2,
// possibly compressed) and overlays written at random.
type chainSpec struct {
	name        string
	depth       int   // layers, base included
	size        int64 // virtual size of the base
	grow        int64 // each overlay is this much larger than its backing
	clusterBits []int // per layer, cycled; nil = 16
	rawBase     bool
	compat      string // "1.1" (v3) or "0.10" (v2)
	compress    string // base converted with -c: "", "zlib" or "zstd"
	writes      int    // random operations per layer
}

type chain struct {
	dir     string
	layers  []string // index 0 = top, as Layers() orders them
	formats []string
}

func (c chain) top() string { return c.layers[0] }

func (s chainSpec) clusterSize(layer int) int {
	if len(s.clusterBits) == 0 {
		return 1 << 16
	}
	return 1 << s.clusterBits[layer%len(s.clusterBits)]
}

// buildChain makes the chain with qemu-img and qemu-io; rng decides every
// write, so a failure reproduces from the logged seed.
func buildChain(t testing.TB, rng *rand.Rand, spec chainSpec) chain {
	t.Helper()
	dir := t.TempDir()
	compat := spec.compat
	if compat == "" {
		compat = "1.1"
	}
	var c chain
	c.dir = dir
	size := spec.size
	randomFile := filepath.Join(dir, "random.bin")
	writeRandomFile(t, rng, randomFile, 256<<10)

	base := filepath.Join(dir, "layer0")
	baseFormat := "qcow2"
	switch {
	case spec.rawBase:
		base += ".raw"
		baseFormat = "raw"
		must(t, "qemu-img", "create", "-f", "raw", base, strconv.FormatInt(size, 10))
		qemuIO(t, base, "raw", randomOps(rng, size, spec.writes, randomFile)...)
	case spec.compress != "":
		plain := filepath.Join(dir, "plain.qcow2")
		must(t, "qemu-img", "create", "-f", "qcow2", "-o", qcowOpts(spec, 0, compat), plain, strconv.FormatInt(size, 10))
		qemuIO(t, plain, "qcow2", randomOps(rng, size, spec.writes, randomFile)...)
		base += ".qcow2"
		opts := fmt.Sprintf("cluster_size=%d,compat=%s", spec.clusterSize(0), compat)
		if spec.compress == "zstd" {
			opts += ",compression_type=zstd"
		}
		must(t, "qemu-img", "convert", "-c", "-O", "qcow2", "-o", opts, plain, base)
	default:
		base += ".qcow2"
		must(t, "qemu-img", "create", "-f", "qcow2", "-o", qcowOpts(spec, 0, compat), base, strconv.FormatInt(size, 10))
		qemuIO(t, base, "qcow2", randomOps(rng, size, spec.writes, randomFile)...)
	}
	c.layers = []string{base}
	c.formats = []string{baseFormat}

	for i := 1; i < spec.depth; i++ {
		size += spec.grow
		ov := filepath.Join(dir, fmt.Sprintf("layer%d.qcow2", i))
		backing := filepath.Base(c.layers[0]) // relative, as snapshots are made
		if i%3 == 2 {
			backing = c.layers[0] // and sometimes absolute
		}
		must(t, "qemu-img", "create", "-f", "qcow2", "-o", qcowOpts(spec, i, compat),
			"-b", backing, "-F", c.formats[0], ov, strconv.FormatInt(size, 10))
		qemuIO(t, ov, "qcow2", randomOps(rng, size, spec.writes, randomFile)...)
		c.layers = append([]string{ov}, c.layers...)
		c.formats = append([]string{"qcow2"}, c.formats...)
	}
	return c
}

func qcowOpts(spec chainSpec, layer int, compat string) string {
	return fmt.Sprintf("cluster_size=%d,compat=%s", spec.clusterSize(layer), compat)
}

func writeRandomFile(t testing.TB, rng *rand.Rand, path string, n int) {
	t.Helper()
	buf := make([]byte, n)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// randomOps makes qemu-io commands: pattern writes, random data, zero writes
// and discards at random, often unaligned, offsets.
func randomOps(rng *rand.Rand, size int64, n int, randomFile string) []string {
	var ops []string
	for range n {
		length := 1 + rng.Int64N(min(size, 192<<10))
		if rng.IntN(3) == 0 {
			length = (1 + rng.Int64N(8)) * 512
		}
		off := rng.Int64N(size - length + 1)
		if rng.IntN(2) == 0 { // sector aligned, the common case
			off &^= 511
			length = (length + 511) &^ 511
			length = min(length, size-off)
		}
		switch r := rng.IntN(10); {
		case r < 4:
			ops = append(ops, fmt.Sprintf("write -P %d %d %d", 1+rng.IntN(255), off, length))
		case r < 6:
			ops = append(ops, fmt.Sprintf("write -s %s %d %d", randomFile, off, min(length, 256<<10)))
		case r < 8:
			ops = append(ops, fmt.Sprintf("write -z %d %d", off, length))
		default:
			ops = append(ops, fmt.Sprintf("discard %d %d", off, length))
		}
	}
	return ops
}
