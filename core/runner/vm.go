package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/quiesce"
)

const (
	// shutdownGrace is how long Stop waits for the guest to power off.
	shutdownGrace = 20 * time.Second
	// quitGrace is how long QEMU gets to exit after QMP quit before SIGKILL.
	quitGrace = 5 * time.Second
)

// VM is one running box.
type VM struct {
	id      string
	accel   string
	runner  *Runner
	log     *slog.Logger
	paths   vmPaths
	sockDir string // a temporary socket directory to remove, if any
	stderr  *tailBuffer
	process *os.Process

	connMu sync.Mutex // guards qmp and agent, set once booted
	qmp    *qmp
	agent  *quiesce.Client

	// switchMu serializes SwitchDisks; layers is the state it keeps.
	switchMu sync.Mutex
	layers   layerState

	requested atomic.Bool   // the host asked for the end (Stop, Kill, Close)
	done      chan struct{} // closed when QEMU has exited and been reaped
	err       error         // why it exited, when not requested; set before done
}

// ID is the box id the VM was started for.
func (v *VM) ID() string { return v.id }

// Accel is the accelerator the VM runs with (AccelKVM or AccelTCG).
func (v *VM) Accel() string { return v.accel }

// PID is QEMU's process id.
func (v *VM) PID() int { return v.process.Pid }

// ConsoleLog is the path of the guest's serial console log, kept after the
// VM exits (until the box starts again) for debugging.
func (v *VM) ConsoleLog() string { return v.paths.console }

// Agent is the guest agent's client, for requests beyond Freeze and Thaw
// (Ping, Sync, and the file requests tests use).
func (v *VM) Agent() *quiesce.Client {
	v.connMu.Lock()
	defer v.connMu.Unlock()
	return v.agent
}

// Done is closed when QEMU has exited, whatever the reason.
func (v *VM) Done() <-chan struct{} { return v.done }

// Err is nil while the VM runs and after an exit the host asked for (Stop,
// Kill, Close); after QEMU exited on its own it says why.
func (v *VM) Err() error {
	select {
	case <-v.done:
		return v.err
	default:
		return nil
	}
}

// Freeze freezes the guest's filesystems (see quiesce.Client.Freeze). A
// deadline on ctx gives quiesce.ErrTimeout when the guest does not answer.
func (v *VM) Freeze(ctx context.Context) error {
	if err := v.Agent().Freeze(ctx); err != nil {
		return fmt.Errorf("box %s: %w", v.id, err)
	}
	return nil
}

// Thaw thaws the guest's filesystems; it is fine when they are not frozen.
func (v *VM) Thaw(ctx context.Context) error {
	if err := v.Agent().Thaw(ctx); err != nil {
		return fmt.Errorf("box %s: %w", v.id, err)
	}
	return nil
}

// Pause stops the guest's CPUs (QMP stop); QEMU flushes the disks first.
func (v *VM) Pause(ctx context.Context) error {
	return v.command(ctx, "stop")
}

// Resume runs a paused guest again (QMP cont).
func (v *VM) Resume(ctx context.Context) error {
	return v.command(ctx, "cont")
}

func (v *VM) command(ctx context.Context, cmd string) error {
	if _, err := v.monitor().execute(ctx, cmd, nil); err != nil {
		return fmt.Errorf("box %s: %w", v.id, err)
	}
	return nil
}

func (v *VM) monitor() *qmp {
	v.connMu.Lock()
	defer v.connMu.Unlock()
	return v.qmp
}

// Stop shuts the guest down cleanly (the agent thaws, syncs, unmounts and
// powers off) and waits for QEMU to exit. A guest that does not comply in
// time is ended with QMP quit, which still flushes QEMU's image caches, and
// as a last resort SIGKILL. Stop returns once QEMU is gone.
func (v *VM) Stop(ctx context.Context) error {
	v.requested.Store(true)
	if v.exited() {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, shutdownGrace)
	defer cancel()
	if v.paused(sctx) {
		_ = v.Resume(sctx) // a paused guest cannot shut itself down
	}
	err := v.Agent().Shutdown(sctx)
	if err == nil && v.waitExit(sctx) {
		v.log.Info("box VM stopped")
		return nil
	}
	v.log.Warn("guest did not shut down; quitting QEMU", "err", err)
	v.quitNow()
	return nil
}

// Kill ends QEMU with SIGKILL, as a power cut would, and waits for it.
func (v *VM) Kill() error {
	v.requested.Store(true)
	if err := v.process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("box %s: kill QEMU: %w", v.id, err)
	}
	<-v.done
	return nil
}

// quitNow asks QEMU to quit (it flushes its caches) and kills it if it
// does not exit promptly.
func (v *VM) quitNow() {
	v.requested.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), quitGrace)
	defer cancel()
	if q := v.monitor(); q != nil {
		_, _ = q.execute(ctx, "quit", nil)
	}
	if !v.waitExit(ctx) {
		v.log.Warn("QEMU did not quit; killing it")
		_ = v.Kill()
	}
}

func (v *VM) paused(ctx context.Context) bool {
	ret, err := v.monitor().execute(ctx, "query-status", nil)
	if err != nil {
		return false
	}
	var st struct {
		Running bool `json:"running"`
	}
	return json.Unmarshal(ret, &st) == nil && !st.Running
}

func (v *VM) exited() bool {
	select {
	case <-v.done:
		return true
	default:
		return false
	}
}

func (v *VM) waitExit(ctx context.Context) bool {
	select {
	case <-v.done:
		return true
	case <-ctx.Done():
		return false
	}
}

// attach records the boot's connections, unless QEMU already exited.
func (v *VM) attach(q *qmp, agent *quiesce.Client) bool {
	v.connMu.Lock()
	defer v.connMu.Unlock()
	if v.exited() {
		q.Close()
		agent.Close()
		return false
	}
	v.qmp, v.agent = q, agent
	return true
}

// watch reaps QEMU, records why it ended and releases what the VM held.
func (v *VM) watch(exited <-chan error) {
	waitErr := <-exited
	if !v.requested.Load() {
		v.err = fmt.Errorf("box %s: QEMU exited on its own (%s); qemu: %q; console: %q",
			v.id, exitStatus(waitErr), v.stderr.String(), fileTail(v.paths.console, 1<<10))
		v.log.Warn("box VM exited on its own", "err", v.err)
	}
	v.connMu.Lock()
	if v.qmp != nil {
		v.qmp.Close()
		v.agent.Close()
	}
	close(v.done)
	v.connMu.Unlock()
	v.removeSockets()
	v.runner.release(v)
}

func exitStatus(err error) string {
	if err == nil {
		return "exit status 0: the guest powered off"
	}
	return err.Error()
}

func (v *VM) removeSockets() {
	_ = os.Remove(v.paths.qmp)
	_ = os.Remove(v.paths.agent)
	if v.sockDir != "" {
		_ = os.RemoveAll(v.sockDir)
	}
}
