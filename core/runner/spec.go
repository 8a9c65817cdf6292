package runner

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// The names of a box's two disks: the QEMU drive ids, the virtio serials,
// and the names the agent mounts and reports them under.
const (
	DiskGuest     = "guest-rootfs"
	DiskContainer = "container"
)

// Spec is what to boot: a box's id and its two active disk layers (qcow2
// files whose backing chains QEMU opens read-only).
type Spec struct {
	ID            string
	GuestDisk     string
	ContainerDisk string
}

// disks pairs each drive with its file, in the guest's device order
// (vda, vdb).
func (s Spec) disks() [2]struct{ name, path string } {
	return [2]struct{ name, path string }{{DiskGuest, s.GuestDisk}, {DiskContainer, s.ContainerDisk}}
}

// validate returns s with absolute disk paths (a relative one could be taken
// by QEMU for a "protocol:" name).
func (s Spec) validate() (Spec, error) {
	if s.ID == "" || len(s.ID) > 64 || filepath.Base(s.ID) != s.ID || s.ID == "." || s.ID == ".." {
		return s, fmt.Errorf("box id %q is not a plain name of up to 64 bytes: %w", s.ID, errdefs.ErrInvalid)
	}
	for _, p := range []*string{&s.GuestDisk, &s.ContainerDisk} {
		if *p == "" {
			return s, fmt.Errorf("box %s: both disks are required: %w", s.ID, errdefs.ErrInvalid)
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return s, fmt.Errorf("box %s: %w", s.ID, err)
		}
		st, err := os.Stat(abs)
		if err != nil {
			return s, fmt.Errorf("box %s: disk %s: %w", s.ID, abs, errdefs.ErrNotFound)
		}
		if !st.Mode().IsRegular() {
			return s, fmt.Errorf("box %s: disk %s is not a regular file: %w", s.ID, abs, errdefs.ErrInvalid)
		}
		*p = abs
	}
	return s, nil
}
