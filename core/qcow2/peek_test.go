package qcow2

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPeek: a new overlay is unallocated until QEMU writes to it, even a
// write of zeros; a dirty or truncated image is refused as Open refuses it.
func TestPeek(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.qcow2")
	if err := Create(base, 64<<20, CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	peek := func(path string) (int64, bool, error) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return Peek(strings.NewReader(string(data)), int64(len(data)))
	}
	for _, write := range []string{"", "write -P 7 1M 64k", "write -z 5M 64k"} {
		top := filepath.Join(dir, "top.qcow2")
		os.Remove(top)
		if err := Create(top, 64<<20, CreateOptions{BackingFile: "base.qcow2", BackingFormat: FormatQcow2}); err != nil {
			t.Fatal(err)
		}
		if write != "" {
			qemuIO(t, top, "qcow2", write)
		}
		size, allocated, err := peek(top)
		if err != nil || size != 64<<20 || allocated != (write != "") {
			t.Fatalf("after %q: Peek = %d, %v, %v", write, size, allocated, err)
		}
	}

	data, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	dirty := append([]byte(nil), data...)
	binary.BigEndian.PutUint64(dirty[72:], binary.BigEndian.Uint64(dirty[72:])|incompatDirty)
	if _, _, err := Peek(strings.NewReader(string(dirty)), int64(len(dirty))); err == nil || !strings.Contains(err.Error(), "dirty") {
		t.Fatalf("dirty image: %v", err)
	}
	if _, _, err := Peek(strings.NewReader(string(data[:100])), 100); err == nil {
		t.Fatal("a truncated header was accepted")
	}
}
