package runner

import (
	"context"

	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// A VM is what the snapshot engine drives: stop, freeze, thaw, switch disks.
var _ snapshot.Instance = (*VM)(nil)

// Engine returns r as the snapshot engine's Runner, to pass in
// snapshot.Options. The engine then boots, quiesces and stops boxes through
// r; r still owns the VMs, so close the Runtime (which stops its boxes
// cleanly) before r.Close (which kills whatever is left).
func (r *Runner) Engine() snapshot.Runner { return engineRunner{r} }

// engineRunner adapts Runner.Start to the engine's RunSpec and Instance.
type engineRunner struct{ r *Runner }

func (e engineRunner) Start(ctx context.Context, spec snapshot.RunSpec) (snapshot.Instance, error) {
	vm, err := e.r.Start(ctx, Spec{ID: spec.BoxID, GuestDisk: spec.GuestDisk, ContainerDisk: spec.ContainerDisk})
	if err != nil {
		return nil, err // a nil *VM inside the interface would not compare equal to nil
	}
	return vm, nil
}
