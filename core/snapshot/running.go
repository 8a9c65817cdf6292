package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/metadata"
)

// Runner starts boxes in VMs (core/runner provides one).
type Runner interface {
	Start(ctx context.Context, spec RunSpec) (Instance, error)
}

// RunSpec is what a VM needs to boot a box.
type RunSpec struct {
	BoxID         string
	GuestDisk     string // path of the active guest-rootfs.qcow2
	ContainerDisk string // path of the active disk.qcow2
}

// Instance is one running VM.
type Instance interface {
	Stop(ctx context.Context) error
	// Freeze asks the guest to freeze its filesystems (FIFREEZE); Thaw undoes it.
	Freeze(ctx context.Context) error
	Thaw(ctx context.Context) error
	// SwitchDisks makes the VM write to new overlays from now on, both at
	// once; an empty path leaves that disk as it is.
	SwitchDisks(ctx context.Context, guestOverlay, containerOverlay string) error
	// Done is closed when the VM has exited.
	Done() <-chan struct{}
}

// SetState starts (Running) or stops (Stopped) the box. While the box's
// disks are being captured (a snapshot, or a clone's or export's freeze) it
// is ErrBusy at once: stopping a VM in the middle of a capture would leave
// the box marked running with no VM.
func (b *Box) SetState(ctx context.Context, s State) error {
	if s != Running && s != Stopped {
		return fmt.Errorf("state %q: only running or stopped can be set: %w", s, errdefs.ErrInvalid)
	}
	e := b.rt.boxes.entry(b.id)
	if !e.freeze.TryLock() {
		return fmt.Errorf("the box is starting, stopping or being captured: %w", errdefs.ErrBusy)
	}
	defer e.freeze.Unlock()
	if s == Running {
		return b.start(ctx)
	}
	return b.stop(ctx)
}

// start boots the box. The caller holds the box's freeze lock, so no capture
// runs during the boot; captures asked for meanwhile wait and find the VM.
func (b *Box) start(ctx context.Context) error {
	rt := b.rt
	if rt.opts.Runner == nil {
		return fmt.Errorf("no runner configured: %w", errdefs.ErrUnsupported)
	}
	if vm := rt.boxes.vm(b.id); vm != nil {
		select {
		case <-vm.Done():
			// It died and its watchVM waits for the lock we hold: settle
			// the box here, then boot it again.
			if err := b.stop(ctx); err != nil {
				return err
			}
		default:
			return nil
		}
	}
	read := rt.boxes.beginStart(b.id)
	defer rt.boxes.endStart(b.id)
	if read {
		// Readers hold the active files as the stopped box's state (SPEC
		// 2.2): the VM must write to new overlays on top of them.
		if err := rt.freezeBox(ctx, b, freezeRequest{always: true}, nil); err != nil {
			return fmt.Errorf("start: %w", err)
		}
	}
	if err := rt.setStatus(ctx, b.id, Running, Stopped); err != nil {
		return err
	}
	vm, err := rt.opts.Runner.Start(ctx, RunSpec{
		BoxID: b.id, GuestDisk: rt.lay.active(b.id, GuestDisk), ContainerDisk: rt.lay.active(b.id, ContainerDisk),
	})
	if err != nil {
		_ = rt.setStatus(context.WithoutCancel(ctx), b.id, Stopped, Running)
		return fmt.Errorf("start: %w", err)
	}
	rt.boxes.setVM(b.id, vm)
	go rt.watchVM(b.id, vm)
	rt.publish(BoxChanged, b.id)
	return nil
}

// watchVM marks the box stopped when its VM exits on its own. It waits for
// a capture in progress, which fails on the dead VM and gives the box back.
func (rt *Runtime) watchVM(id string, vm Instance) {
	<-vm.Done()
	e := rt.boxes.entry(id)
	e.freeze.Lock()
	defer e.freeze.Unlock()
	if rt.boxes.vm(id) != vm {
		return // stopped, or replaced, by the host
	}
	rt.boxes.setVM(id, nil)
	if err := rt.setStatus(context.Background(), id, Stopped, Running); err != nil {
		rt.log.Error("box exited; marking it stopped failed", "box", id, "err", err)
	}
	rt.publish(BoxChanged, id)
}

// stop shuts the box's VM down. The caller holds the box's freeze lock. The
// VM stays registered until it is gone, so that readers meanwhile take a
// point-in-time capture instead of reading files it still writes.
func (b *Box) stop(ctx context.Context) error {
	rt := b.rt
	vm := rt.boxes.vm(b.id)
	if vm == nil {
		if _, err := b.requireStatus(ctx, Stopped); err != nil {
			return err
		}
		return nil
	}
	err := vm.Stop(ctx)
	rt.boxes.setVM(b.id, nil)
	if serr := rt.setStatus(context.WithoutCancel(ctx), b.id, Stopped, Running); serr != nil {
		err = errors.Join(err, serr)
	}
	rt.publish(BoxChanged, b.id)
	rt.kickCompactor() // merges its VM held back
	return err
}

// setStatus moves a box from one of from to s (not a journaled mutation: no
// files change).
func (rt *Runtime) setStatus(ctx context.Context, id string, s State, from ...State) error {
	var fromS []string
	for _, f := range from {
		fromS = append(fromS, string(f))
	}
	state, _ := json.Marshal(boxState{Owner: rt.owner})
	return rt.db.Update(ctx, func(tx *metadata.Tx) error {
		ok, err := tx.SetStatus(ctx, id, string(s), state, fromS...)
		if err != nil {
			return err
		}
		if !ok {
			row, err := tx.BoxByID(ctx, id)
			if err != nil {
				return err
			}
			return fmt.Errorf("box %s is %s: %w", row.Name, row.Status, errdefs.ErrBusy)
		}
		return nil
	})
}

// freezeRunning captures a running box's disks: the guest freezes its
// filesystems, the VM switches to new overlays, the guest thaws. If the
// guest does not freeze in time, stop_on_quiesce_fail stops the box, captures
// it cleanly and starts it again; otherwise the capture is crash-consistent.
// The caller holds the box's freeze lock.
func (rt *Runtime) freezeRunning(ctx context.Context, b *Box, vm Instance, snapshot string, opts SnapshotOptions, out *SnapshotInfo) error {
	consistency := Crash
	if opts.Quiesce {
		if opts.QuiesceTimeoutSecs < 1 {
			return fmt.Errorf("quiesce_timeout_secs %d: must be at least 1: %w", opts.QuiesceTimeoutSecs, errdefs.ErrInvalid)
		}
		timeout := time.Duration(opts.QuiesceTimeoutSecs) * time.Second
		qctx, cancel := context.WithTimeout(ctx, timeout)
		err := vm.Freeze(qctx)
		cancel()
		switch {
		case err == nil:
			consistency = Quiesced
			defer func() {
				// The guest gets as long to thaw as it had to freeze: a guest
				// that stopped answering must not hold the box (its agent
				// thaws by itself after its freeze hold).
				tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
				defer cancel()
				if err := vm.Thaw(tctx); err != nil {
					rt.log.Error("thaw failed", "box", b.id, "err", err)
				}
			}()
		case opts.StopOnQuiesceFail:
			rt.log.Warn("quiesce failed; stopping the box to capture it", "box", b.id, "err", err)
			if err := b.stop(ctx); err != nil {
				return fmt.Errorf("quiesce failed and stop failed: %w", err)
			}
			ferr := rt.freezeBox(ctx, b, freezeRequest{snapshot: snapshot, consistency: Clean}, out)
			if err := b.start(context.WithoutCancel(ctx)); err != nil {
				return errors.Join(ferr, fmt.Errorf("restart after capture: %w", err))
			}
			return ferr
		default:
			rt.log.Warn("quiesce failed; capturing crash-consistent", "box", b.id, "err", err)
		}
	}
	return rt.freezeBox(ctx, b, freezeRequest{
		snapshot: snapshot, consistency: consistency,
		switchDisks: func(ctx context.Context, overlays map[Disk]string) error {
			return vm.SwitchDisks(ctx, overlays[GuestDisk], overlays[ContainerDisk])
		},
	}, out)
}

// stopAll stops every VM this process started, each after the capture of
// its box in progress, if any.
func (rt *Runtime) stopAll(ctx context.Context) error {
	var errs []error
	for id := range rt.boxes.vms() {
		e := rt.boxes.entry(id)
		e.freeze.Lock()
		errs = append(errs, rt.mustBox(id).stop(ctx))
		e.freeze.Unlock()
	}
	return errors.Join(errs...)
}
