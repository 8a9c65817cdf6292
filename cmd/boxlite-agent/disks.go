package main

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/boxlite-ai/boxlitefs/core/quiesce"
	"golang.org/x/sys/unix"
)

// ext4 (and ext2/3, which the ext4 driver mounts) keep their magic 0xEF53
// at byte 56 of the superblock, which starts at byte 1024.
const (
	extMagicOffset = 1024 + 56
	extMagic       = 0xEF53
)

// mountDisks mounts, read-write, every virtio disk that holds an ext
// filesystem, at dir/NAME where NAME is the serial the host gave the disk
// (QEMU's serial= property) or else the device name.
func mountDisks(dir string, log *slog.Logger) ([]quiesce.Disk, error) {
	devices, err := filepath.Glob("/sys/block/vd*")
	if err != nil {
		return nil, err
	}
	slices.Sort(devices)
	var disks []quiesce.Disk
	taken := make(map[string]bool)
	for _, sys := range devices {
		dev := filepath.Base(sys)
		node := "/dev/" + dev
		if !hasExtFilesystem(node) {
			log.Info("disk has no ext filesystem; not mounted", "device", dev)
			continue
		}
		name := diskName(sys)
		if taken[name] {
			name = dev
		}
		mnt := filepath.Join(dir, name)
		if err := os.MkdirAll(mnt, 0o755); err != nil {
			return nil, err
		}
		if err := unix.Mount(node, mnt, "ext4", 0, ""); err != nil {
			return nil, fmt.Errorf("mount %s on %s: %w", node, mnt, err)
		}
		taken[name] = true
		disks = append(disks, quiesce.Disk{Name: name, Device: dev, Mount: mnt})
		log.Info("disk mounted", "device", dev, "name", name, "mount", mnt)
	}
	return disks, nil
}

func hasExtFilesystem(node string) bool {
	f, err := os.Open(node)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [2]byte
	if _, err := f.ReadAt(magic[:], extMagicOffset); err != nil {
		return false
	}
	return binary.LittleEndian.Uint16(magic[:]) == extMagic
}

// diskName is the disk's virtio serial when it is a safe path component.
func diskName(sys string) string {
	serial, err := os.ReadFile(filepath.Join(sys, "serial"))
	if name := strings.TrimSpace(string(serial)); err == nil && safeName(name) {
		return name
	}
	return filepath.Base(sys)
}

func safeName(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '.' {
		return false
	}
	for _, r := range s {
		ok := r == '-' || r == '_' || r == '.' ||
			(r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !ok {
			return false
		}
	}
	return true
}

// unmount unmounts the data disks, or at least remounts them read-only
// (which flushes them) when something still holds a file open.
func unmount(mounts []string, log *slog.Logger) {
	for _, m := range slices.Backward(mounts) {
		if err := unix.Unmount(m, 0); err == nil {
			continue
		}
		if err := unix.Mount(m, m, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			log.Error("unmount disk", "mount", m, "err", err)
		}
	}
}
