package qcow2

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

func TestCreateEmptyImages(t *testing.T) {
	for _, tc := range []struct {
		size int64
		bits int
	}{
		{0, 0}, {512, 9}, {1 << 20, 12}, {1<<30 + 512, 0}, {1 << 40, 0}, {3 << 40, 21}, {1000000, 16},
	} {
		path := filepath.Join(t.TempDir(), "empty.qcow2")
		if err := Create(path, tc.size, CreateOptions{ClusterBits: tc.bits}); err != nil {
			t.Fatalf("Create(%d, bits %d): %v", tc.size, tc.bits, err)
		}
		requireClean(t, path)
		info := qemuChain(t, path)
		if len(info) != 1 || info[0].VirtualSize != alignUp(tc.size, 512) {
			t.Fatalf("Create(%d): qemu-img info says %+v", tc.size, info)
		}
		// O(1) in size: a few pages whatever the disk, the rest a hole.
		var st syscall.Stat_t
		if err := syscall.Stat(path, &st); err != nil {
			t.Fatal(err)
		}
		if st.Blocks*512 > 64<<10 {
			t.Fatalf("Create(%d) uses %d bytes on disk", tc.size, st.Blocks*512)
		}
	}
}

func TestCreateOverlays(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "base.raw")
	if err := os.WriteFile(raw, make([]byte, 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	qemuIO(t, raw, "raw", "write -P 5 0 1M")
	base := filepath.Join(dir, "base.qcow2")
	if err := Create(base, 4<<20, CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	qemuIO(t, base, "qcow2", "write -P 6 1M 1M")
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path    string
		opts    CreateOptions
		size    int64
		backing string // what qemu-img should resolve
	}{
		{filepath.Join(dir, "over-rel.qcow2"), CreateOptions{BackingFile: "base.qcow2", BackingFormat: FormatQcow2}, 4 << 20, base},
		{filepath.Join(sub, "over-up.qcow2"), CreateOptions{BackingFile: "../base.qcow2", BackingFormat: FormatQcow2}, 4 << 20, base},
		{filepath.Join(dir, "over-abs.qcow2"), CreateOptions{BackingFile: base, BackingFormat: FormatQcow2, ClusterBits: 9}, 8 << 20, base},
		{filepath.Join(dir, "over-raw.qcow2"), CreateOptions{BackingFile: "base.raw", BackingFormat: FormatRaw, ClusterBits: 21}, 3 << 20, raw},
		{filepath.Join(dir, "over-probe.qcow2"), CreateOptions{BackingFile: "base.qcow2"}, 4 << 20, base},
	}
	for _, tc := range cases {
		if err := Create(tc.path, tc.size, tc.opts); err != nil {
			t.Fatalf("Create %s: %v", tc.path, err)
		}
		requireClean(t, tc.path)
		chain := qemuChain(t, tc.path)
		if len(chain) != 2 || chain[0].BackingFilename != tc.opts.BackingFile || filepath.Clean(chain[1].Filename) != tc.backing ||
			chain[0].BackingFilenameFormat != string(tc.opts.BackingFormat) || chain[0].VirtualSize != tc.size {
			t.Fatalf("%s: qemu-img info --backing-chain shows %+v", tc.path, chain)
		}
		img, err := Open(tc.path, OpenOptions{AllowBacking: AllowUnder(dir)})
		if err != nil {
			t.Fatal(err)
		}
		if d := firstDiff(readAll(t, img), qemuRaw(t, tc.path)); d >= 0 {
			t.Fatalf("%s reads differently from qemu-img at %#x", tc.path, d)
		}
		img.Close()
		// The overlay is writable by QEMU and stays clean.
		qemuIO(t, tc.path, "qcow2", "write -P 7 4096 70000")
		requireClean(t, tc.path)
	}
}

func TestCreateRefusals(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "exists.qcow2")
	if err := os.WriteFile(existing, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		path string
		size int64
		opts CreateOptions
		want error
	}{
		{"exists", existing, 1 << 20, CreateOptions{}, errdefs.ErrExists},
		{"negative size", filepath.Join(dir, "a"), -1, CreateOptions{}, errdefs.ErrInvalid},
		{"cluster bits 8", filepath.Join(dir, "b"), 1 << 20, CreateOptions{ClusterBits: 8}, errdefs.ErrInvalid},
		{"cluster bits 22", filepath.Join(dir, "c"), 1 << 20, CreateOptions{ClusterBits: 22}, errdefs.ErrInvalid},
		{"L1 over 32 MiB", filepath.Join(dir, "d"), 1 << 40, CreateOptions{ClusterBits: 9}, errdefs.ErrInvalid},
		{"name too long", filepath.Join(dir, "e"), 1 << 20, CreateOptions{BackingFile: strings.Repeat("x", 1024)}, errdefs.ErrInvalid},
		{"name over cluster", filepath.Join(dir, "f"), 1 << 20, CreateOptions{ClusterBits: 9, BackingFile: strings.Repeat("x", 500)}, errdefs.ErrInvalid},
		{"format without file", filepath.Join(dir, "g"), 1 << 20, CreateOptions{BackingFormat: FormatRaw}, errdefs.ErrInvalid},
		{"unknown format", filepath.Join(dir, "h"), 1 << 20, CreateOptions{BackingFile: "x", BackingFormat: "vmdk"}, errdefs.ErrInvalid},
	}
	for _, tc := range cases {
		err := Create(tc.path, tc.size, tc.opts)
		if !errors.Is(err, tc.want) {
			t.Fatalf("%s: got %v, want %v", tc.name, err, tc.want)
		}
		if tc.path != existing {
			if _, err := os.Stat(tc.path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%s: a refused Create left %s behind", tc.name, tc.path)
			}
		}
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Fatal("Create over an existing file changed it")
	}
}
