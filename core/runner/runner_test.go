package runner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

func TestNewRefusesWhatCannotRun(t *testing.T) {
	good := ForGuestDir(guestDir(t))
	cases := []struct {
		name string
		edit func(*Config)
		want error
	}{
		{"no kernel configured", func(c *Config) { c.Kernel = "" }, errdefs.ErrUnsupported},
		{"missing kernel", func(c *Config) { c.Kernel = filepath.Join(t.TempDir(), "vmlinuz") }, errdefs.ErrUnsupported},
		{"missing initrd", func(c *Config) { c.Initrd = filepath.Join(t.TempDir(), "initrd.img") }, errdefs.ErrUnsupported},
		{"missing qemu", func(c *Config) { c.QEMU = filepath.Join(t.TempDir(), "qemu-system-x86_64") }, errdefs.ErrUnsupported},
		{"qemu not in PATH", func(c *Config) { c.QEMU = "no-such-qemu-system" }, errdefs.ErrUnsupported},
		{"unknown accel", func(c *Config) { c.Accel = "hvf" }, errdefs.ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			cfg.RunDir = t.TempDir()
			tc.edit(&cfg)
			r, err := New(cfg, testLogger(t))
			if !errors.Is(err, tc.want) {
				if r != nil {
					r.Close()
				}
				t.Fatalf("New: got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestStartRefusesBadSpecs(t *testing.T) {
	r := newTestRunner(t, nil)
	dir := t.TempDir()
	disk := filepath.Join(dir, "disk.qcow2")
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		spec Spec
		want error
	}{
		{"empty id", Spec{GuestDisk: disk, ContainerDisk: disk}, errdefs.ErrInvalid},
		{"id with a slash", Spec{ID: "a/b", GuestDisk: disk, ContainerDisk: disk}, errdefs.ErrInvalid},
		{"dot-dot id", Spec{ID: "..", GuestDisk: disk, ContainerDisk: disk}, errdefs.ErrInvalid},
		{"no container disk", Spec{ID: "x", GuestDisk: disk}, errdefs.ErrInvalid},
		{"missing disk", Spec{ID: "x", GuestDisk: disk, ContainerDisk: filepath.Join(dir, "nope.qcow2")}, errdefs.ErrNotFound},
		{"directory as disk", Spec{ID: "x", GuestDisk: disk, ContainerDisk: dir}, errdefs.ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vm, err := r.Start(context.Background(), tc.spec)
			if !errors.Is(err, tc.want) {
				if vm != nil {
					vm.Kill()
				}
				t.Fatalf("Start: got %v, want %v", err, tc.want)
			}
		})
	}
}
