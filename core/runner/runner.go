// Package runner starts boxes in real VMs: QEMU with the boxlite guest kernel
// and agent (cmd/boxlite-agent), the box's two disks on virtio-blk, the
// agent on a virtio-serial port and QMP on a unix socket.
//
// It provides mechanisms, not policy: boot and stop a VM, freeze and thaw its
// filesystems through the agent, and switch its disks to new overlay files
// atomically so that the old ones become frozen layers. The snapshot engine
// decides when to do what.
package runner

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// Accelerators.
const (
	AccelAuto = "auto" // KVM when a guest boots under it, else TCG
	AccelKVM  = "kvm"
	AccelTCG  = "tcg"
)

// The files scripts/guest.sh writes into its output directory.
const (
	KernelFile = "vmlinuz"
	InitrdFile = "initrd.img"
)

// Config says how to run VMs. Zero fields take the defaults noted.
type Config struct {
	QEMU      string // qemu-system-x86_64 binary; "" = found in PATH
	Kernel    string // guest kernel (required)
	Initrd    string // guest initramfs with the agent as /init (required)
	Accel     string // AccelAuto (""), AccelKVM or AccelTCG
	MemoryMiB int    // 0 = 256
	CPUs      int    // 0 = 1
	// BootTimeout bounds a start, from launching QEMU until the agent
	// answers (0 = 90 s; TCG boots in a few seconds on an idle machine).
	BootTimeout time.Duration
	// KVMProbeTimeout is how long AccelAuto lets a first KVM guest boot
	// before it falls back to TCG for good (0 = 10 s).
	KVMProbeTimeout time.Duration
	// RunDir holds each VM's sockets and console log (RunDir/ID/console.log);
	// "" = a private temporary directory removed by Close.
	RunDir string
	// FreezeHold bounds how long a guest stays frozen without a thaw
	// (0 = quiesce.DefaultFreezeHold).
	FreezeHold time.Duration
}

// ForGuestDir returns a Config that boots the assets scripts/guest.sh wrote
// into dir (make guest: bin/guest), with every other field at its default.
func ForGuestDir(dir string) Config {
	return Config{Kernel: filepath.Join(dir, KernelFile), Initrd: filepath.Join(dir, InitrdFile)}
}

// Runner starts VMs and owns them: Close kills any still running.
type Runner struct {
	cfg     Config
	log     *slog.Logger
	tempRun bool // RunDir was made by New and goes with Close

	// ctx ends with Close, which cancels boots in progress.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	vms     map[string]*VM // nil while booting
	closed  bool
	booting sync.WaitGroup

	// accel is AccelAuto's verdict once a VM booted; the first auto start
	// holds accelMu while it probes, so concurrent starts probe only once.
	accelMu sync.Mutex
	accel   string
}

// New checks cfg and returns a Runner. Missing guest assets or a missing
// QEMU give an error wrapping errdefs.ErrUnsupported: this machine cannot
// run boxes, and starting one is not supported.
func New(cfg Config, log *slog.Logger) (*Runner, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{cfg: cfg, log: log, ctx: ctx, cancel: cancel, vms: make(map[string]*VM)}
	if cfg.Accel != AccelAuto {
		r.accel = cfg.Accel
	}
	if r.cfg.RunDir == "" {
		dir, err := os.MkdirTemp("", "boxlite-run-")
		if err != nil {
			cancel()
			return nil, fmt.Errorf("runner: %w", err)
		}
		r.cfg.RunDir, r.tempRun = dir, true
	} else if err := os.MkdirAll(r.cfg.RunDir, 0o700); err != nil {
		cancel()
		return nil, fmt.Errorf("runner: %w", err)
	}
	return r, nil
}

func withDefaults(cfg Config) (Config, error) {
	for _, asset := range []struct{ what, path string }{{"kernel", cfg.Kernel}, {"initrd", cfg.Initrd}} {
		if asset.path == "" {
			return cfg, fmt.Errorf("runner: no guest %s configured: %w", asset.what, errdefs.ErrUnsupported)
		}
		if st, err := os.Stat(asset.path); err != nil || !st.Mode().IsRegular() {
			return cfg, fmt.Errorf("runner: guest %s %s missing (make guest builds it): %w",
				asset.what, asset.path, errdefs.ErrUnsupported)
		}
	}
	qemu := cfg.QEMU
	if qemu == "" {
		qemu = "qemu-system-x86_64"
	}
	path, err := exec.LookPath(qemu)
	if err != nil {
		return cfg, fmt.Errorf("runner: %s not found (apt-get install qemu-system-x86): %w", qemu, errdefs.ErrUnsupported)
	}
	cfg.QEMU = path
	switch cfg.Accel {
	case "":
		cfg.Accel = AccelAuto
	case AccelAuto, AccelTCG:
	case AccelKVM:
		if !kvmUsable() {
			return cfg, fmt.Errorf("runner: accel kvm but /dev/kvm cannot be opened: %w", errdefs.ErrUnsupported)
		}
	default:
		return cfg, fmt.Errorf("runner: accel %q is none of auto, kvm, tcg: %w", cfg.Accel, errdefs.ErrInvalid)
	}
	if cfg.MemoryMiB <= 0 {
		cfg.MemoryMiB = 256
	}
	if cfg.CPUs <= 0 {
		cfg.CPUs = 1
	}
	if cfg.BootTimeout <= 0 {
		cfg.BootTimeout = 90 * time.Second
	}
	if cfg.KVMProbeTimeout <= 0 {
		cfg.KVMProbeTimeout = 10 * time.Second
	}
	return cfg, nil
}

func kvmUsable() bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// Accel is the accelerator VMs run with: AccelKVM or AccelTCG, or AccelAuto
// until a first VM has booted and settled it.
func (r *Runner) Accel() string {
	r.accelMu.Lock()
	defer r.accelMu.Unlock()
	if r.accel == "" {
		return AccelAuto
	}
	return r.accel
}

// Close cancels boots in progress, ends every VM at once (QMP quit, so QEMU
// flushes the images, then SIGKILL) and waits until they are gone. Stop VMs
// first for a clean guest shutdown.
func (r *Runner) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.booting.Wait()
	r.mu.Lock()
	vms := make([]*VM, 0, len(r.vms))
	for _, vm := range r.vms {
		vms = append(vms, vm)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, vm := range vms {
		wg.Go(vm.quitNow)
	}
	wg.Wait()
	if r.tempRun {
		return os.RemoveAll(r.cfg.RunDir)
	}
	return nil
}

var errClosed = fmt.Errorf("runner closed: %w", errdefs.ErrBusy)

// claim reserves id for a VM about to boot; Close waits for the boot.
func (r *Runner) claim(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errClosed
	}
	if _, ok := r.vms[id]; ok {
		return fmt.Errorf("box %s is already running: %w", id, errdefs.ErrBusy)
	}
	r.vms[id] = nil
	r.booting.Add(1)
	return nil
}

// settle ends a boot begun by claim: it records vm under id, or frees id
// when the boot failed (vm nil) or the VM already exited (its release, which
// follows the exit, may have come first).
func (r *Runner) settle(id string, vm *VM) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if vm == nil || vm.exited() {
		delete(r.vms, id)
	} else {
		r.vms[id] = vm
	}
	r.booting.Done()
}

// release forgets a VM that has exited.
func (r *Runner) release(vm *VM) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.vms[vm.id] == vm {
		delete(r.vms, vm.id)
	}
}
