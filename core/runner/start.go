package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/core/quiesce"
)

// maxSocketPath is what fits in sockaddr_un.sun_path with its NUL.
const maxSocketPath = 107

// pingEvery is how often a booting VM's agent is pinged.
const pingEvery = 500 * time.Millisecond

// Start boots spec's box and returns once its agent answers. ctx bounds the
// boot only: the VM then runs until Stop, Kill, its own exit, or Close.
func (r *Runner) Start(ctx context.Context, spec Spec) (*VM, error) {
	spec, err := spec.validate()
	if err != nil {
		return nil, err
	}
	if err := r.claim(spec.ID); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(r.ctx, cancel)()
	vm, err := r.bootAnyAccel(ctx, spec)
	r.settle(spec.ID, vm)
	return vm, err
}

// bootAnyAccel boots with the settled accelerator, or settles it: under
// AccelAuto a first VM gets KVMProbeTimeout to boot with KVM (a KVM that
// exists but hangs is known to happen), then TCG is tried, and whichever
// booted is used from then on.
func (r *Runner) bootAnyAccel(ctx context.Context, spec Spec) (*VM, error) {
	r.accelMu.Lock()
	if accel := r.accel; accel != "" {
		r.accelMu.Unlock()
		return r.boot(ctx, spec, accel, r.cfg.BootTimeout)
	}
	defer r.accelMu.Unlock()
	if kvmUsable() {
		vm, err := r.boot(ctx, spec, AccelKVM, min(r.cfg.KVMProbeTimeout, r.cfg.BootTimeout))
		if err == nil {
			r.accel = AccelKVM
			return vm, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		r.log.Warn("a KVM guest did not boot; trying TCG", "box", spec.ID, "err", err)
	}
	vm, err := r.boot(ctx, spec, AccelTCG, r.cfg.BootTimeout)
	if err == nil {
		r.accel = AccelTCG
	}
	return vm, err
}

// boot launches QEMU and waits for the agent; on failure nothing is left running.
func (r *Runner) boot(ctx context.Context, spec Spec, accel string, timeout time.Duration) (*VM, error) {
	began := time.Now()
	paths, sockDir, err := r.vmPaths(spec.ID)
	if err != nil {
		return nil, err
	}
	vm := &VM{
		id:      spec.ID,
		accel:   accel,
		runner:  r,
		log:     r.log.With("box", spec.ID),
		paths:   paths,
		sockDir: sockDir,
		stderr:  &tailBuffer{max: 4 << 10},
		done:    make(chan struct{}),
	}
	vm.identify(spec)
	cmd := exec.Command(r.cfg.QEMU, qemuArgs(r.cfg, accel, spec, paths)...)
	cmd.Stdout, cmd.Stderr = vm.stderr, vm.stderr
	exited, err := startProcess(cmd)
	if err != nil {
		vm.removeSockets()
		return nil, fmt.Errorf("box %s: start %s: %w", spec.ID, r.cfg.QEMU, err)
	}
	vm.process = cmd.Process
	go vm.watch(exited)

	bctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	status, err := vm.connect(bctx)
	if err != nil {
		_ = vm.Kill()
		return nil, vm.bootError(ctx, err, timeout)
	}
	vm.log.Info("box VM booted", "accel", accel, "pid", vm.process.Pid,
		"took", time.Since(began).Round(time.Millisecond), "disks", len(status.Disks))
	return vm, nil
}

// vmPaths lays out a VM's files: RunDir/ID/ holds its console log and, when
// their paths fit in a socket address, its sockets (else a short temporary
// directory does, returned as sockDir to be removed with the VM).
func (r *Runner) vmPaths(id string) (vmPaths, string, error) {
	dir := filepath.Join(r.cfg.RunDir, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return vmPaths{}, "", fmt.Errorf("box %s: %w", id, err)
	}
	p := vmPaths{console: filepath.Join(dir, "console.log")}
	sockDir := ""
	if len(filepath.Join(dir, "agent.sock")) > maxSocketPath {
		tmp, err := os.MkdirTemp("", "boxlite-vm-")
		if err != nil {
			return vmPaths{}, "", fmt.Errorf("box %s: %w", id, err)
		}
		dir, sockDir = tmp, tmp
	}
	p.qmp, p.agent = filepath.Join(dir, "qmp.sock"), filepath.Join(dir, "agent.sock")
	// A VM of this id that died with its host left these behind.
	_ = os.Remove(p.qmp)
	_ = os.Remove(p.agent)
	return p, sockDir, nil
}

// connect attaches QMP and the agent and pings until the agent answers.
func (v *VM) connect(ctx context.Context) (quiesce.Status, error) {
	q, err := dialQMP(ctx, v.paths.qmp, v.done, v.log)
	if err != nil {
		return quiesce.Status{}, err
	}
	agent, err := quiesce.Dial(ctx, v.paths.agent, quiesce.Options{FreezeHold: v.runner.cfg.FreezeHold}, v.log)
	if err != nil {
		q.Close()
		return quiesce.Status{}, err
	}
	if !v.attach(q, agent) {
		return quiesce.Status{}, errors.New("QEMU exited during boot")
	}
	// Pings sent before the agent opens its port wait in the socket and
	// are answered late; the client drops those answers.
	for {
		pctx, cancel := context.WithTimeout(ctx, pingEvery)
		status, err := agent.Ping(pctx)
		cancel()
		if err == nil {
			return status, nil
		}
		if !errors.Is(err, quiesce.ErrTimeout) {
			return quiesce.Status{}, err
		}
		select {
		case <-v.done:
			return quiesce.Status{}, errors.New("QEMU exited during boot")
		case <-ctx.Done():
			return quiesce.Status{}, err
		default:
		}
	}
}

// bootError explains a failed boot with what QEMU and the guest console said.
func (v *VM) bootError(ctx context.Context, err error, timeout time.Duration) error {
	if ctx.Err() != nil {
		return fmt.Errorf("box %s: boot abandoned: %w", v.id, ctx.Err())
	}
	if errors.Is(err, quiesce.ErrTimeout) {
		err = fmt.Errorf("guest agent did not answer within %s (accel %s): %w", timeout, v.accel, quiesce.ErrTimeout)
	}
	stderr := v.stderr.String()
	if strings.Contains(stderr, "Is another process using the image") {
		// QEMU's image lock: another VM (maybe another boxlitefs) runs the disk.
		err = fmt.Errorf("%w: a disk is in use by another process: %w", err, errdefs.ErrBusy)
	}
	return fmt.Errorf("box %s: %w; qemu: %q; console: %q", v.id, err, stderr, fileTail(v.paths.console, 1<<10))
}
