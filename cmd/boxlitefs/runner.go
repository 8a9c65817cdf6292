package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/boxlite-ai/boxlitefs/core/runner"
	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// guestDirEnv overrides where the guest kernel and initramfs are.
const guestDirEnv = "BOXLITE_GUEST_DIR"

// vmRunner lets the engine start boxes in VMs through core/runner.
type vmRunner struct{ r *runner.Runner }

// Start boots a box; the VM is the engine's Instance.
func (v vmRunner) Start(ctx context.Context, spec snapshot.RunSpec) (snapshot.Instance, error) {
	vm, err := v.r.Start(ctx, runner.Spec{ID: spec.BoxID, GuestDisk: spec.GuestDisk, ContainerDisk: spec.ContainerDisk})
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return vm, nil
}

// guestDir is where the guest assets are: --guest, else $BOXLITE_GUEST_DIR,
// else guest/ beside this executable (make builds bin/boxlitefs and
// bin/guest/).
func guestDir(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if d := os.Getenv(guestDirEnv); d != "" {
		return d
	}
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	return filepath.Join(filepath.Dir(self), "guest")
}

// newRunner makes a runner when this machine can run boxes; otherwise the
// mount works without one and starting a box is EOPNOTSUPP.
func newRunner(dir string, logger *slog.Logger) (*runner.Runner, snapshot.Runner) {
	r, err := runner.New(runner.ForGuestDir(dir), logger)
	if err != nil {
		logger.Info("boxes cannot be started on this machine", "reason", err)
		return nil, nil
	}
	return r, vmRunner{r}
}
