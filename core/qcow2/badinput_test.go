package qcow2

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// validImage returns the bytes of a small qcow2 image QEMU wrote, and the
// offset of its first L2 table.
func validImage(t *testing.T) ([]byte, int64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "valid.qcow2")
	must(t, "qemu-img", "create", "-f", "qcow2", path, "4M")
	qemuIO(t, path, "qcow2", "write -P 1 0 100k", "write -P 2 2M 4k")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	l1 := int64(be64(data[40:]))
	return data, int64(be64(data[l1:]) & offsetMask)
}

func put32(b []byte, off int, v uint32) []byte {
	b = bytes.Clone(b)
	binary.BigEndian.PutUint32(b[off:], v)
	return b
}

func put64(b []byte, off int64, v uint64) []byte {
	b = bytes.Clone(b)
	binary.BigEndian.PutUint64(b[off:], v)
	return b
}

// allocatedBy returns how many bytes f allocated on the heap.
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// requireRefused opens and inspects bad bytes: both must fail with an error
// of class want that mentions words, without allocating more than the file
// justifies.
func requireRefused(t *testing.T, data []byte, want error, words string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bad.qcow2")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var openErr, inspectErr error
	allocated := allocatedBy(func() {
		var img *Image
		if img, openErr = Open(path, OpenOptions{Format: FormatQcow2}); openErr == nil {
			img.Close()
		}
		_, inspectErr = Inspect(bytes.NewReader(data), int64(len(data)))
	})
	for _, err := range []error{openErr, inspectErr} {
		if !errors.Is(err, want) || !strings.Contains(err.Error(), words) {
			t.Fatalf("got %v; want an error wrapping %v that mentions %q", err, want, words)
		}
	}
	if limit := uint64(4*len(data) + 1<<20); allocated > limit {
		t.Fatalf("refusing a %d-byte file allocated %d bytes", len(data), allocated)
	}
}

func TestBadHeadersAreRefused(t *testing.T) {
	good, l2 := validImage(t)
	cases := []struct {
		name  string
		data  []byte
		want  error
		words string
	}{
		{"truncated header", good[:50], errdefs.ErrCorrupt, "too short"},
		{"truncated v3 header", good[:90], errdefs.ErrCorrupt, "too short"},
		{"bad magic", put32(good, 0, 0x12345678), errdefs.ErrCorrupt, "magic"},
		{"version 4", put32(good, 4, 4), errdefs.ErrUnsupported, "version 4"},
		{"cluster_bits 8", put32(good, 20, 8), errdefs.ErrCorrupt, "cluster_bits 8"},
		{"cluster_bits 22", put32(good, 20, 22), errdefs.ErrCorrupt, "cluster_bits 22"},
		{"cluster_bits huge", put32(good, 20, 0xffffffff), errdefs.ErrCorrupt, "cluster_bits"},
		{"L1 past EOF", put64(good, 40, 1<<40), errdefs.ErrCorrupt, "L1 table at 0x10000000000"},
		{"L1 in header", put64(good, 40, 0), errdefs.ErrCorrupt, "header cluster"},
		{"L1 unaligned", put64(good, 40, 0x30200), errdefs.ErrCorrupt, "not cluster aligned"},
		{"huge l1_size", put32(good, 36, 0xffffffff), errdefs.ErrUnsupported, "32 MiB"},
		{"l1_size past EOF", put32(good, 36, 4<<20-1), errdefs.ErrCorrupt, "past the end"},
		{"l1_size too small", put32(good, 36, 0), errdefs.ErrCorrupt, "too small"},
		{"L2 past EOF", put64(good, int64(be64(good[40:])), 1<<40|1<<63), errdefs.ErrCorrupt, "L2 table"},
		{"L2 unaligned", put64(good, int64(be64(good[40:])), 0x200), errdefs.ErrCorrupt, "L2 table"},
		{"refcount table past EOF", put64(good, 48, 1<<40), errdefs.ErrCorrupt, "refcount table"},
		{"refcount table in header", put64(good, 48, 0), errdefs.ErrCorrupt, "refcount table"},
		{"refcount table empty", put32(good, 56, 0), errdefs.ErrCorrupt, "refcount table"},
		{"refcount_order 7", put32(good, 96, 7), errdefs.ErrCorrupt, "refcount_order"},
		{"backing_file_size 1024", put32(put64(good, 8, 0x200), 16, 1024), errdefs.ErrCorrupt, "backing_file_size 1024"},
		{"backing name past cluster", put32(put64(good, 8, 0xfff0), 16, 100), errdefs.ErrCorrupt, "backing file name"},
		{"header_length odd", put32(good, 100, 105), errdefs.ErrCorrupt, "header_length"},
		{"header_length huge", put32(good, 100, 1<<20), errdefs.ErrCorrupt, "header_length"},
		{"unknown incompatible bit", put64(good, 72, 1<<5), errdefs.ErrUnsupported, "bit 5"},
		{"dirty", put64(good, 72, incompatDirty), errdefs.ErrCorrupt, "dirty"},
		{"corrupt flag", put64(good, 72, incompatCorrupt), errdefs.ErrCorrupt, "marked corrupt"},
		{"encryption method", put32(good, 32, 1), errdefs.ErrUnsupported, "encrypted"},
		{"external data bit", put64(good, 72, incompatExternalData), errdefs.ErrUnsupported, "external data"},
		{"extended L2 bit", put64(good, 72, incompatExtendedL2), errdefs.ErrUnsupported, "extended L2"},
		{"compression bit without type", put64(good, 72, incompatCompressionType), errdefs.ErrCorrupt, "compression type"},
		{"compression type 7", put64(func() []byte { b := bytes.Clone(good); b[104] = 7; return b }(), 72, incompatCompressionType), errdefs.ErrUnsupported, "compression_type 7"},
		{"snapshots past EOF", put64(put32(good, 60, 1), 64, 1<<40), errdefs.ErrCorrupt, "snapshot table"},
		{"too many snapshots", put32(good, 60, 1<<20), errdefs.ErrCorrupt, "snapshots"},
		{"extension overruns", put32(good, 0x74, 1<<20), errdefs.ErrCorrupt, "overruns"},
		{"data cluster past EOF", put64(good, l2, 1<<40|1<<63), errdefs.ErrCorrupt, "past the end"},
		{"data cluster unaligned", put64(good, l2, 0x50200|1<<63), errdefs.ErrCorrupt, "not cluster aligned"},
		{"compressed cluster past EOF", put64(good, l2, 1<<62|1<<40), errdefs.ErrCorrupt, "compressed cluster"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if strings.HasPrefix(tc.name, "data cluster") || strings.HasPrefix(tc.name, "compressed cluster") {
				requireReadRefused(t, tc.data, tc.want, tc.words)
				return
			}
			requireRefused(t, tc.data, tc.want, tc.words)
		})
	}
}

// requireReadRefused covers bad L2 entries: Open reads no L2 table, so the
// error comes from Inspect and from the first read of the entry.
func requireReadRefused(t *testing.T, data []byte, want error, words string) {
	t.Helper()
	_, err := Inspect(bytes.NewReader(data), int64(len(data)))
	if !errors.Is(err, want) || !strings.Contains(err.Error(), words) {
		t.Fatalf("Inspect: got %v; want %v mentioning %q", err, want, words)
	}
	path := filepath.Join(t.TempDir(), "bad.qcow2")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := Open(path, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	_, err = img.ReadAt(make([]byte, 4096), 0)
	if !errors.Is(err, want) || !strings.Contains(err.Error(), words) {
		t.Fatalf("ReadAt: got %v; want %v mentioning %q", err, want, words)
	}
}

// TestRealUnsupportedImages has QEMU make images with features this package
// refuses.
func TestRealUnsupportedImages(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, words string
		args        []string
	}{
		{"luks", "encrypted", []string{"--object", "secret,id=s,data=secret", "-o", "encrypt.format=luks,encrypt.key-secret=s,encrypt.iter-time=10"}},
		{"external-data", "external data", []string{"-o", "data_file=" + filepath.Join(dir, "data.raw")}},
		{"extended-l2", "extended L2", []string{"-o", "extended_l2=on"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // LUKS key derivation takes seconds
			path := filepath.Join(dir, tc.name+".qcow2")
			args := append([]string{"create", "-f", "qcow2"}, tc.args...)
			must(t, "qemu-img", append(args, path, "1M")...)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			requireRefused(t, data, errdefs.ErrUnsupported, tc.words)
		})
	}
}

func TestBackingPolicy(t *testing.T) {
	dir := t.TempDir()
	create := func(name string, args ...string) string {
		path := filepath.Join(dir, name)
		must(t, "qemu-img", append(append([]string{"create", "-f", "qcow2"}, args...), path, "1M")...)
		return path
	}
	base := create("base.qcow2")
	over := create("over.qcow2", "-b", "base.qcow2", "-F", "qcow2")
	outside := create("outside.qcow2", "-u", "-b", "/etc/passwd", "-F", "raw")
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	viaLink := create("via-link.qcow2", "-u", "-b", "link", "-F", "raw")
	loopA := create("loop-a.qcow2", "-b", "base.qcow2", "-F", "qcow2")
	loopB := create("loop-b.qcow2", "-b", "loop-a.qcow2", "-F", "qcow2")
	must(t, "qemu-img", "rebase", "-u", "-b", "loop-b.qcow2", "-F", "qcow2", loopA)
	self := create("self.qcow2", "-u", "-b", "self.qcow2", "-F", "qcow2")
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := create("fifo-backed.qcow2", "-u", "-b", "fifo", "-F", "raw")
	protocol := create("protocol.qcow2", "-u", "-b", "nbd://example.com/disk", "-F", "raw")
	vmdk := create("vmdk.qcow2", "-u", "-b", "base.qcow2", "-F", "vmdk")
	missing := create("missing.qcow2", "-u", "-b", "nope.qcow2", "-F", "qcow2")

	inside := AllowUnder(dir)
	cases := []struct {
		name  string
		path  string
		allow func(string) error
		want  error
		words string
	}{
		{"no policy", over, nil, errdefs.ErrCorrupt, "no backing file is allowed"},
		{"outside root", outside, inside, errdefs.ErrCorrupt, "outside"},
		{"symlink out of root", viaLink, inside, errdefs.ErrCorrupt, "outside"},
		{"loop", loopB, inside, errdefs.ErrCorrupt, "backing loop"},
		{"self loop", self, inside, errdefs.ErrCorrupt, "backing loop"},
		{"fifo", fifo, inside, errdefs.ErrCorrupt, "not a regular file"},
		{"protocol", protocol, inside, errdefs.ErrUnsupported, "protocol"},
		{"unknown backing format", vmdk, inside, errdefs.ErrUnsupported, "vmdk"},
		{"missing backing", missing, inside, errdefs.ErrCorrupt, "nope.qcow2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			img, err := Open(tc.path, OpenOptions{AllowBacking: tc.allow})
			if err == nil {
				img.Close()
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.words) {
				t.Fatalf("Open %s: got %v; want %v mentioning %q", tc.path, err, tc.want, tc.words)
			}
		})
	}

	img, err := Open(over, OpenOptions{AllowBacking: inside})
	if err != nil {
		t.Fatalf("allowed chain: %v", err)
	}
	if l := img.Layers(); len(l) != 2 || l[1].Path != base {
		t.Fatalf("layers %+v", l)
	}
	img.Close()
}

func TestMaxDepth(t *testing.T) {
	dir := t.TempDir()
	prev := ""
	for i := range 5 {
		path := filepath.Join(dir, "l"+string(rune('0'+i))+".qcow2")
		opts := CreateOptions{}
		if prev != "" {
			opts = CreateOptions{BackingFile: filepath.Base(prev), BackingFormat: FormatQcow2}
		}
		if err := Create(path, 1<<20, opts); err != nil {
			t.Fatal(err)
		}
		prev = path
	}
	if _, err := Open(prev, OpenOptions{AllowBacking: AllowUnder(dir), MaxDepth: 4}); !errors.Is(err, errdefs.ErrCorrupt) || !strings.Contains(err.Error(), "deeper than 4") {
		t.Fatalf("5 layers, MaxDepth 4: %v", err)
	}
	img, err := Open(prev, OpenOptions{AllowBacking: AllowUnder(dir), MaxDepth: 5})
	if err != nil {
		t.Fatalf("5 layers, MaxDepth 5: %v", err)
	}
	img.Close()
}
