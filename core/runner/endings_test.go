package runner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/core/quiesce"
)

// TestAutoAccelAndGuestSafety boots under AccelAuto (KVM is tried first
// where it exists, and hangs on some hosts) and checks that a guest never
// stays frozen: not past its hold time, not after the host went away.
func TestAutoAccelAndGuestSafety(t *testing.T) {
	r := newTestRunner(t, func(c *Config) {
		c.Accel = AccelAuto
		c.KVMProbeTimeout = 5 * time.Second
		c.FreezeHold = time.Minute
	})
	vm, _ := bootBox(t, r, "auto", t.TempDir())
	if got := r.Accel(); got != vm.Accel() || (got != AccelKVM && got != AccelTCG) {
		t.Fatalf("runner accel %q, VM accel %q", got, vm.Accel())
	}
	var second *quiesce.Client
	t.Cleanup(func() {
		if second != nil {
			second.Close()
		}
	})

	t.Run("a freeze ends when the host goes away", func(t *testing.T) {
		if err := vm.Freeze(within(t, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
		vm.Agent().Close()
		// Reconnect, as the agent socket takes one host at a time.
		c, err := quiesce.Dial(within(t, 10*time.Second), vm.paths.agent, quiesce.Options{FreezeHold: time.Second}, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		second = c
		waitThawed(t, c, 10*time.Second) // far less than the minute the freeze was to hold
		if console := readFile(t, vm.ConsoleLog()); !strings.Contains(console, `why="host disconnected"`) {
			t.Fatalf("the console log does not show a thaw on disconnect:\n%s", console)
		}
	})

	t.Run("a freeze ends after its hold time", func(t *testing.T) {
		if second == nil {
			t.Skip("no second connection")
		}
		if err := second.Freeze(within(t, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
		waitThawed(t, second, 10*time.Second)
		if console := readFile(t, vm.ConsoleLog()); !strings.Contains(console, "outlived its hold time") {
			t.Fatalf("the console log does not show a thaw at the hold time:\n%s", console)
		}
	})

	t.Run("kill leaves no QEMU", func(t *testing.T) {
		if err := vm.Kill(); err != nil {
			t.Fatal(err)
		}
		assertGone(t, vm)
		if err := vm.Err(); err != nil {
			t.Fatalf("Err after Kill: %v", err)
		}
	})
}

func TestVMEndings(t *testing.T) {
	r := newTestRunner(t, nil)
	dir := t.TempDir()
	var running *VM // left running for Close

	t.Run("stop thaws a frozen guest and shuts it down", func(t *testing.T) {
		vm, _ := bootBox(t, r, "frozen", dir)
		if err := vm.Freeze(within(t, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := vm.Stop(within(t, time.Minute)); err != nil {
			t.Fatal(err)
		}
		assertGone(t, vm)
		if err := vm.Err(); err != nil {
			t.Fatalf("Err after Stop: %v", err)
		}
		console := readFile(t, vm.ConsoleLog())
		if !strings.Contains(console, `why=shutdown`) || !strings.Contains(console, "shutting down") {
			t.Fatalf("no clean shutdown in the console log:\n%s", console)
		}
	})

	t.Run("a cancelled boot leaves no QEMU", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(500*time.Millisecond, cancel)
		spec := Spec{ID: "cancelled", GuestDisk: filepath.Join(dir, "guest-rootfs.qcow2"), ContainerDisk: filepath.Join(dir, "disk.qcow2")}
		vm, err := r.Start(ctx, spec)
		if !errors.Is(err, context.Canceled) {
			if vm != nil {
				vm.Kill()
			}
			t.Fatalf("Start: got %v, want context.Canceled", err)
		}
		if pids := qemuProcessesUsing(t, r.cfg.RunDir); len(pids) > 0 {
			t.Fatalf("QEMU processes left: %v", pids)
		}
	})

	t.Run("a guest that powers off on its own", func(t *testing.T) {
		vm, _ := bootBox(t, r, "self", dir)
		if err := vm.Agent().Shutdown(within(t, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
		assertGone(t, vm)
		if err := vm.Err(); err == nil || !strings.Contains(err.Error(), "on its own") {
			t.Fatalf("Err: %v, want the exit explained", err)
		}
		// The id is free again.
		vm2, spec := bootBox(t, r, "self", dir)
		if _, err := r.Start(within(t, time.Minute), spec); !errors.Is(err, errdefs.ErrBusy) {
			t.Fatalf("a second VM under a running id: got %v, want ErrBusy", err)
		}
		spec.ID = "other"
		if _, err := r.Start(within(t, time.Minute), spec); !errors.Is(err, errdefs.ErrBusy) {
			t.Fatalf("a second VM on disks in use: got %v, want ErrBusy", err)
		}
		running = vm2
	})

	t.Run("close ends running VMs", func(t *testing.T) {
		if running == nil {
			t.Skip("no VM left running")
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		assertGone(t, running)
		if _, err := r.Start(within(t, time.Minute), Spec{ID: "late", GuestDisk: filepath.Join(dir, "guest-rootfs.qcow2"),
			ContainerDisk: filepath.Join(dir, "disk.qcow2")}); !errors.Is(err, errClosed) {
			t.Fatalf("Start after Close: got %v, want errClosed", err)
		}
	})
}

func waitThawed(t *testing.T, c *quiesce.Client, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		st, err := c.Ping(within(t, 5*time.Second))
		if err == nil && !st.Frozen {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("guest still frozen after %s: %+v, %v", limit, st, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// qemuProcessesUsing lists the pids of processes whose command line
// mentions dir.
func qemuProcessesUsing(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), dir) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}
