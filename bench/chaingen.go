package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Inputs are made by QEMU's own tools, so that what is measured reads
// images as QEMU writes them.

const patternSize = 4 << 20

// chainSpec is a chain to build: a base of mixed content (text, random data,
// holes) and overlays that each rewrite part of the disk.
type chainSpec struct {
	name          string
	size          int64 // virtual size
	depth         int   // layers, base included
	baseFill      float64
	overlayWrites int   // writes per overlay
	writeSize     int64 // bytes per overlay write
	seed          uint64
}

// builtChain is a chain on disk; layers[0] is the top.
type builtChain struct {
	layers []string
}

func (c builtChain) top() string { return c.layers[0] }

func command(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// buildChain writes the chain under dir/spec.name, or finds it there from
// an earlier scenario of the same run.
func buildChain(ctx context.Context, dir string, spec chainSpec) (builtChain, error) {
	dir = filepath.Join(dir, spec.name)
	done := filepath.Join(dir, "built")
	if _, err := os.Stat(done); err == nil {
		c := builtChain{}
		for i := spec.depth - 1; i >= 0; i-- {
			c.layers = append(c.layers, filepath.Join(dir, fmt.Sprintf("layer%d.qcow2", i)))
		}
		return c, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return builtChain{}, err
	}
	rng := rand.New(rand.NewPCG(spec.seed, spec.seed+1))
	text, random := filepath.Join(dir, "text.bin"), filepath.Join(dir, "random.bin")
	if err := os.WriteFile(text, textPattern(rng, patternSize), 0o644); err != nil {
		return builtChain{}, err
	}
	if err := os.WriteFile(random, randomPattern(rng, patternSize), 0o644); err != nil {
		return builtChain{}, err
	}
	raw := filepath.Join(dir, "base.raw")
	if err := writeMixedRaw(raw, spec.size, spec.baseFill, rng, text, random); err != nil {
		return builtChain{}, err
	}
	base := filepath.Join(dir, "layer0.qcow2")
	if err := command(ctx, "qemu-img", "convert", "-O", "qcow2", raw, base); err != nil {
		return builtChain{}, err
	}
	if err := os.Remove(raw); err != nil {
		return builtChain{}, err
	}
	c := builtChain{layers: []string{base}}
	for i := 1; i < spec.depth; i++ {
		layer := filepath.Join(dir, fmt.Sprintf("layer%d.qcow2", i))
		if err := command(ctx, "qemu-img", "create", "-f", "qcow2", "-b", filepath.Base(c.top()), "-F", "qcow2", layer); err != nil {
			return builtChain{}, err
		}
		if spec.overlayWrites == 0 {
			c.layers = append([]string{layer}, c.layers...)
			continue
		}
		args := []string{"-f", "qcow2"}
		for range spec.overlayWrites {
			off := rng.Int64N(spec.size/spec.writeSize) * spec.writeSize
			var op string
			switch rng.IntN(4) {
			case 0:
				op = fmt.Sprintf("write -z %d %d", off, spec.writeSize)
			case 1:
				op = fmt.Sprintf("write -s %s %d %d", text, off, spec.writeSize)
			default:
				op = fmt.Sprintf("write -s %s %d %d", random, off, spec.writeSize)
			}
			args = append(args, "-c", op)
		}
		if err := command(ctx, "qemu-io", append(args, layer)...); err != nil {
			return builtChain{}, err
		}
		c.layers = append([]string{layer}, c.layers...)
	}
	return c, os.WriteFile(done, nil, 0o644)
}

// writeMixedRaw writes a sparse raw disk whose 4 MiB blocks are, at random,
// text, random data or holes (fill is the share that is not a hole).
func writeMixedRaw(path string, size int64, fill float64, rng *rand.Rand, text, random string) error {
	patterns := map[bool][]byte{}
	for isText, p := range map[bool]string{true: text, false: random} {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		patterns[isText] = b
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for off := int64(0); off < size; off += patternSize {
		if rng.Float64() >= fill {
			continue
		}
		block := patterns[rng.IntN(2) == 0][:min(patternSize, size-off)]
		if _, err := f.WriteAt(block, off); err != nil {
			return err
		}
	}
	return f.Truncate(size)
}

// textPattern is compressible text: words from a small vocabulary.
func textPattern(rng *rand.Rand, n int) []byte {
	words := strings.Fields("the quick brown fox jumps over a lazy dog while boxes snapshot clones and export layers of qcow2 images")
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[rng.IntN(len(words))])
		if rng.IntN(12) == 0 {
			b.WriteString(".\n")
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()[:n]
}

func randomPattern(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}
