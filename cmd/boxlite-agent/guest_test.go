package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLoadOrderPutsDependenciesFirst(t *testing.T) {
	deps := map[string][]string{
		"virtio_pci":            {"virtio_ring", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio"},
		"virtio_blk":            {"virtio", "virtio_ring"},
		"virtio_console":        {"virtio", "virtio_ring"},
		"virtio":                nil,
		"virtio_ring":           nil,
		"virtio_pci_modern_dev": nil,
		"virtio_pci_legacy_dev": {"crc32c"}, // built in: not in the set
	}
	order, err := loadOrder(deps)
	if err != nil {
		t.Fatal(err)
	}
	if len(order) != len(deps) {
		t.Fatalf("order %v has %d modules, want %d", order, len(order), len(deps))
	}
	for mod, ds := range deps {
		for _, d := range ds {
			if _, ok := deps[d]; ok && slices.Index(order, d) > slices.Index(order, mod) {
				t.Fatalf("order %v loads %s before its dependency %s", order, mod, d)
			}
		}
	}
	if _, err := loadOrder(map[string][]string{"a": {"b"}, "b": {"a"}}); err == nil {
		t.Fatal("a dependency cycle was accepted")
	}
}

// moduleDeps reads a real ELF object whose .modinfo is laid out as the
// kernel's (NUL-separated key=value strings).
func TestModuleDepsReadsModinfo(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "m.c")
	code := `__attribute__((section(".modinfo"), used)) static const char info[] =
		"license=GPL\0depends=virtio,virtio_ring\0name=m\0";`
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	obj := filepath.Join(dir, "m.ko")
	if out, err := exec.Command("gcc", "-c", "-o", obj, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	deps, err := moduleDeps(obj)
	if err != nil || !slices.Equal(deps, []string{"virtio", "virtio_ring"}) {
		t.Fatalf("got %v, %v", deps, err)
	}
	if _, err := moduleDeps(src); err == nil {
		t.Fatal("a non-ELF file was read as a module")
	}
}

func TestExtFilesystemDetection(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "ext4.img")
	blank := filepath.Join(dir, "blank.img")
	for _, p := range []string{img, blank} {
		if err := os.WriteFile(p, make([]byte, 4<<20), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	if !hasExtFilesystem(img) {
		t.Error("ext4 image not recognised")
	}
	if hasExtFilesystem(blank) || hasExtFilesystem(filepath.Join(dir, "missing")) {
		t.Error("blank or missing image taken for ext4")
	}
}

func TestDiskNameComesFromASafeSerial(t *testing.T) {
	for serial, want := range map[string]string{
		"container\n":           "container",
		"guest-rootfs":          "guest-rootfs",
		"../etc":                "vdb",
		".hidden":               "vdb",
		"":                      "vdb",
		strings.Repeat("s", 65): "vdb",
		"with space":            "vdb",
	} {
		sys := filepath.Join(t.TempDir(), "vdb")
		if err := os.MkdirAll(sys, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sys, "serial"), []byte(serial), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := diskName(sys); got != want {
			t.Errorf("serial %q: name %q, want %q", serial, got, want)
		}
	}
}
