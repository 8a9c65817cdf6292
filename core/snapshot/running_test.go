package snapshot_test

// Running boxes end to end (SPEC 2.6, 2.7): the engine drives real QEMU VMs
// under TCG through core/runner, and a real guest agent writes the files.
// This is an external test package because core/runner imports this one.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/core/runner"
	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// noteFile is the file the guest rewrites at each step of the story, as the
// agent names it (relative to the disk's mount point).
const noteFile = "note"

// TestRunningBoxInVM tells one box's story in order, sharing its VMs (a boot
// under TCG costs seconds): quiesced snapshot, refusals while running, clone
// and export of the running box, crash-consistent and stop-and-restart
// captures when the guest cannot freeze, then stop, restore and fsck.
func TestRunningBoxInVM(t *testing.T) {
	l := newLiveHome(t)
	x := l.createBox("x")
	l.setState(x, snapshot.Running)
	l.write(x, "at s1")

	l.step("a snapshot of a running box is quiesced", func(t *testing.T) {
		info, err := x.Snapshots().Create(l.ctx, "s1", snapshot.DefaultSnapshotOptions())
		if err != nil {
			t.Fatal(err)
		}
		if info.Consistency != snapshot.Quiesced {
			t.Fatalf("consistency %q, want %q", info.Consistency, snapshot.Quiesced)
		}
		l.requireRunning(x, l.vm(x))
		l.write(x, "after s1") // the guest was thawed
		if got := l.snapshotNote(x, "s1"); got != "at s1" {
			t.Fatalf("snapshot s1 holds %q", got)
		}
	})

	l.step("a snapshot taken while the guest writes holds a consistent filesystem", func(t *testing.T) {
		vm := l.vm(x)
		var last atomic.Int64 // the last write the guest finished
		last.Store(-1)
		stop, stopped := make(chan struct{}), make(chan error, 1)
		go func() {
			for i := int64(0); ; i++ {
				select {
				case <-stop:
					stopped <- nil
					return
				default:
				}
				ctx, cancel := context.WithTimeout(l.ctx, 30*time.Second)
				err := vm.Agent().WriteFile(ctx, runner.DiskContainer, noteFile, fmt.Appendf(nil, "write %d", i))
				cancel()
				if err != nil {
					stopped <- err
					return
				}
				last.Store(i)
			}
		}()
		for last.Load() < 2 {
			time.Sleep(10 * time.Millisecond)
		}
		_, err := x.Snapshots().Create(l.ctx, "busy", snapshot.DefaultSnapshotOptions())
		close(stop)
		if werr := <-stopped; werr != nil {
			t.Fatalf("guest write during the snapshot: %v", werr)
		}
		if err != nil {
			t.Fatal(err)
		}
		// The agent truncates, then writes: a freeze may fall in between.
		got := l.snapshotNote(x, "busy")
		var n int64
		if _, err := fmt.Sscanf(got, "write %d", &n); got != "" && (err != nil || n < 2 || n > last.Load()) {
			t.Fatalf("snapshot busy holds %q; the guest wrote up to %d", got, last.Load())
		}
		t.Logf("the guest wrote %d times; the snapshot holds %q", last.Load()+1, got)
		l.write(x, "after s1")
	})

	l.step("restore and removals of a running box are busy and change nothing", func(t *testing.T) {
		before := l.listing()
		for what, fn := range map[string]func() error{
			"restore":         func() error { return x.Snapshots().Restore(l.ctx, "s1") },
			"snapshot remove": func() error { return x.Snapshots().Remove(l.ctx, "s1") },
			"box remove":      func() error { return l.rt.RemoveBox(l.ctx, "x") },
		} {
			if err := fn(); !errors.Is(err, errdefs.ErrBusy) {
				t.Errorf("%s of a running box: %v, want ErrBusy", what, err)
			}
		}
		// Another process sharing the home has no VM to switch: it must not
		// freeze the files this one's VM writes.
		other, err := snapshot.Open(l.ctx, l.dir, snapshot.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		ox, err := other.Box(l.ctx, "x")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ox.Snapshots().Create(l.ctx, "elsewhere", snapshot.DefaultSnapshotOptions()); !errors.Is(err, errdefs.ErrBusy) {
			t.Errorf("another process's snapshot of the running box: %v, want ErrBusy", err)
		}
		if _, err := ox.Clone(l.ctx, "elsewhere", snapshot.DefaultCloneOptions()); !errors.Is(err, errdefs.ErrBusy) {
			t.Errorf("another process's clone of the running box: %v, want ErrBusy", err)
		}
		if after := l.listing(); after != before {
			t.Errorf("refusals changed the home:\nbefore\n%s\nafter\n%s", before, after)
		}
		l.requireRunning(x, l.vm(x))
		if got := l.read(x); got != "after s1" {
			t.Fatalf("the guest reads %q", got)
		}
	})

	l.step("a clone of a running box holds the state at the freeze", func(t *testing.T) {
		vm := l.vm(x)
		c, err := x.Clone(l.ctx, "c", snapshot.DefaultCloneOptions())
		if err != nil {
			t.Fatal(err)
		}
		if c.Status != snapshot.Stopped || c.Origin == nil || c.Origin.BoxID != x.ID() {
			t.Fatalf("clone: %+v", c)
		}
		l.requireRunning(x, vm)
		l.write(x, "after clone") // into the new active layer
		if got := l.currentNote(l.box("c")); got != "after s1" {
			t.Fatalf("the clone holds %q", got)
		}
	})

	l.step("an export of a running box holds the state at the freeze", func(t *testing.T) {
		vm := l.vm(x)
		var archive bytes.Buffer
		if err := x.Export(l.ctx, &archive, snapshot.DefaultExportOptions()); err != nil {
			t.Fatal(err)
		}
		l.requireRunning(x, vm)
		l.write(x, "after export")
		if _, err := l.rt.Import(l.ctx, &archive, "imported", snapshot.ImportOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := l.currentNote(l.box("imported")); got != "after clone" {
			t.Fatalf("the exported archive holds %q", got)
		}
	})

	quiesceFails := snapshot.SnapshotOptions{Quiesce: true, QuiesceTimeoutSecs: 1}

	l.step("a guest that cannot freeze gives a crash-consistent capture", func(t *testing.T) {
		vm := l.vm(x)
		l.pause(vm)
		freezing := l.vms.nextFreeze()
		began := time.Now()
		type result struct {
			info snapshot.SnapshotInfo
			err  error
		}
		done := make(chan result, 1)
		go func() {
			info, err := x.Snapshots().Create(l.ctx, "crash", quiesceFails)
			done <- result{info, err}
		}()
		<-freezing
		// The capture holds the box: stopping its VM now would leave it
		// marked running with no VM.
		for _, s := range []snapshot.State{snapshot.Stopped, snapshot.Running} {
			if err := x.SetState(l.ctx, s); !errors.Is(err, errdefs.ErrBusy) {
				t.Errorf("set state %s during a capture: %v, want ErrBusy", s, err)
			}
		}
		var r result
		select {
		case r = <-done:
			t.Error("set state waited for the capture instead of refusing at once")
		default:
			r = <-done
		}
		info, err := r.info, r.err
		took := time.Since(began)
		l.resume(vm)
		if err != nil {
			t.Fatal(err)
		}
		if info.Consistency != snapshot.Crash {
			t.Fatalf("consistency %q, want %q", info.Consistency, snapshot.Crash)
		}
		t.Logf("measure: crash-consistent snapshot after a 1 s quiesce timeout took %s", took.Round(time.Millisecond))
		l.requireRunning(x, vm)
		l.write(x, "after crash") // waits for the thaw Freeze sent after its timeout
		if got := l.snapshotNote(x, "crash"); got != "after export" {
			t.Fatalf("snapshot crash holds %q", got)
		}
	})

	l.step("a guest that stops answering once frozen does not hold the box", func(t *testing.T) {
		vm := l.vm(x)
		l.vms.pauseAfterNextSwitch()
		opts := quiesceFails
		var info snapshot.SnapshotInfo
		err := l.within(20*time.Second, "a snapshot whose guest cannot thaw", func() error {
			var err error
			info, err = x.Snapshots().Create(l.ctx, "unthawed", opts)
			return err
		})
		l.resume(vm)
		if err != nil {
			t.Fatal(err)
		}
		if info.Consistency != snapshot.Quiesced {
			t.Fatalf("consistency %q, want %q", info.Consistency, snapshot.Quiesced)
		}
		l.requireRunning(x, vm)
		if got := l.snapshotNote(x, "unthawed"); got != "after crash" {
			t.Fatalf("snapshot unthawed holds %q", got)
		}
		l.write(x, "after crash") // the guest thawed
		if _, err := x.Snapshots().Create(l.ctx, "zero", snapshot.SnapshotOptions{Quiesce: true}); !errors.Is(err, errdefs.ErrInvalid) {
			t.Fatalf("a quiesce with no time to do it: %v, want ErrInvalid", err)
		}
	})

	l.step("a clone quiesces as the box's settings say", func(t *testing.T) {
		quick := map[string]string{"snapshot.quiesce_timeout_secs": "1", "snapshot.stop_on_quiesce_fail": "false"}
		l.setSettings(x, quick)
		defer l.setSettings(x, defaultsOf(t, quick))
		vm := l.vm(x)
		l.pause(vm)
		began := time.Now()
		_, err := x.Clone(l.ctx, "crash-clone", snapshot.DefaultCloneOptions())
		took := time.Since(began)
		l.resume(vm)
		if err != nil {
			t.Fatal(err)
		}
		// The defaults would have waited 30 s, then stopped and restarted the box.
		if took > 20*time.Second {
			t.Errorf("the clone took %s: it ignored the 1 s quiesce timeout", took)
		}
		l.requireRunning(x, vm)
	})

	l.step("stop_on_quiesce_fail stops, captures cleanly and starts again", func(t *testing.T) {
		old := l.vm(x)
		l.pause(old)
		opts := quiesceFails
		opts.StopOnQuiesceFail = true
		began := time.Now()
		info, err := x.Snapshots().Create(l.ctx, "restarted", opts)
		if err != nil {
			l.resume(old)
			t.Fatal(err)
		}
		t.Logf("measure: stop, capture and restart after a 1 s quiesce timeout took %s", time.Since(began).Round(time.Millisecond))
		if info.Consistency != snapshot.Clean {
			t.Fatalf("consistency %q, want %q", info.Consistency, snapshot.Clean)
		}
		requireExited(t, old)
		vm := l.vm(x)
		if vm == old {
			t.Fatal("the box was not started again")
		}
		l.requireRunning(x, vm)
		if got := l.read(x); got != "after crash" {
			t.Fatalf("after the restart the guest reads %q", got)
		}
		if got := l.snapshotNote(x, "restarted"); got != "after crash" {
			t.Fatalf("snapshot restarted holds %q", got)
		}
		l.write(x, "last")
	})

	l.step("stop", func(t *testing.T) {
		vm := l.vm(x)
		l.setState(x, snapshot.Stopped)
		requireExited(t, vm)
		if got := l.currentNote(x); got != "last" {
			t.Fatalf("after stopping, the box holds %q", got)
		}
	})

	l.step("a disk opened before the box starts keeps its state", func(t *testing.T) {
		v, err := x.OpenDisk(l.ctx, snapshot.ContainerDisk)
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		before := l.digest(v)
		l.setState(x, snapshot.Running)
		l.write(x, "while read")
		if l.digest(v) != before {
			t.Error("the view changed when the box started")
		}
		if got := l.noteIn(v, false); got != "last" {
			t.Fatalf("the view opened before the start holds %q", got)
		}
	})

	l.step("a VM that dies leaves its box stopped", func(t *testing.T) {
		vm := l.vm(x)
		l.write(x, "before the crash")
		if err := syscall.Kill(vm.PID(), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		requireExited(t, vm)
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, err := x.State(l.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st == snapshot.Stopped {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the box is %s after its VM died", st)
			}
			time.Sleep(20 * time.Millisecond)
		}
		l.requireClean() // the guest's fsyncs were QEMU's flushes
		l.setState(x, snapshot.Running)
		if got := l.read(x); got != "before the crash" {
			t.Fatalf("after the crash the guest reads %q", got)
		}
		l.setState(x, snapshot.Stopped)
	})

	l.step("restore brings back the snapshot", func(t *testing.T) {
		if err := x.Snapshots().Restore(l.ctx, "s1"); err != nil {
			t.Fatal(err)
		}
		for where, want := range map[string]string{"": "at s1", "crash": "after export", "restarted": "after crash"} {
			got := l.currentNote(x)
			if where != "" {
				got = l.snapshotNote(x, where)
			}
			if got != want {
				t.Errorf("%q holds %q, want %q", where, got, want)
			}
		}
		if got := l.currentNote(l.box("c")); got != "after s1" {
			t.Errorf("the clone holds %q", got)
		}
	})

	l.requireClean()
}

// TestStartWithoutRunnerIsUnsupported: a home opened without a runner
// cannot start boxes, and says so.
func TestStartWithoutRunnerIsUnsupported(t *testing.T) {
	ctx := context.Background()
	rt, err := snapshot.Open(ctx, t.TempDir(), snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if _, err := rt.CreateBox(ctx, "x", snapshot.CreateOptions{DiskSize: 64 << 20}); err != nil {
		t.Fatal(err)
	}
	x, err := rt.Box(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := x.SetState(ctx, snapshot.Running); !errors.Is(err, errdefs.ErrUnsupported) {
		t.Fatalf("start without a runner: %v, want ErrUnsupported", err)
	}
	if st, err := x.State(ctx); err != nil || st != snapshot.Stopped {
		t.Fatalf("state after a refused start: %s, %v", st, err)
	}
	if err := x.SetState(ctx, snapshot.Stopped); err != nil {
		t.Fatalf("stopping a stopped box: %v", err)
	}
}

// step runs one part of the story as a subtest, whose t the home's methods
// use meanwhile; the parts after a failed one would only report its
// consequences.
func (l *liveHome) step(name string, fn func(t *testing.T)) {
	l.t.Helper()
	parent := l.t
	ok := parent.Run(name, func(t *testing.T) {
		l.t = t
		defer func() { l.t = parent }()
		fn(t)
	})
	if !ok {
		parent.FailNow()
	}
}

// liveHome is a home whose boxes run in real VMs.
type liveHome struct {
	t      *testing.T
	ctx    context.Context
	dir    string
	rt     *snapshot.Runtime
	runner *runner.Runner
	vms    *vmLog
}

func newLiveHome(t *testing.T) *liveHome {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := runner.ForGuestDir(guestAssets(t))
	cfg.Accel = runner.AccelTCG // KVM hangs on some hosts; runner tests the auto probe
	cfg.RunDir = t.TempDir()
	r, err := runner.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	l := &liveHome{t: t, ctx: context.Background(), dir: t.TempDir(), runner: r, vms: &vmLog{Runner: r.Engine()}}
	t.Cleanup(l.close)
	l.rt, err = snapshot.Open(l.ctx, l.dir, snapshot.Options{Logger: log, Runner: l.vms})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// close stops the boxes, ends the runner, and checks no QEMU outlived them.
func (l *liveHome) close() {
	if err := l.rt.Close(); err != nil {
		l.t.Errorf("close the home: %v", err)
	}
	if err := l.runner.Close(); err != nil {
		l.t.Errorf("close the runner: %v", err)
	}
	for _, vm := range l.vms.all() {
		requireExited(l.t, vm)
	}
}

func (l *liveHome) createBox(name string) *snapshot.Box {
	l.t.Helper()
	if _, err := l.rt.CreateBox(l.ctx, name, snapshot.CreateOptions{DiskSize: 64 << 20}); err != nil {
		l.t.Fatal(err)
	}
	return l.box(name)
}

func (l *liveHome) box(name string) *snapshot.Box {
	l.t.Helper()
	b, err := l.rt.Box(l.ctx, name)
	if err != nil {
		l.t.Fatal(err)
	}
	return b
}

func (l *liveHome) setState(b *snapshot.Box, s snapshot.State) {
	l.t.Helper()
	began := time.Now()
	if err := b.SetState(l.ctx, s); err != nil {
		l.t.Fatalf("set state %s: %v", s, err)
	}
	l.t.Logf("measure: set state %s took %s", s, time.Since(began).Round(time.Millisecond))
	if got, err := b.State(l.ctx); err != nil || got != s {
		l.t.Fatalf("state is %s (%v), want %s", got, err, s)
	}
}

func (l *liveHome) setSettings(b *snapshot.Box, settings map[string]string) {
	l.t.Helper()
	for key, value := range settings {
		if err := b.SetSetting(l.ctx, key, value); err != nil {
			l.t.Fatal(err)
		}
	}
}

// defaultsOf gives the default value of each setting named in settings.
func defaultsOf(t *testing.T, settings map[string]string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for key := range settings {
		value, err := snapshot.DefaultSettings().Get(key)
		if err != nil {
			t.Fatal(err)
		}
		out[key] = value
	}
	return out
}

// vm is the VM the box runs in now.
func (l *liveHome) vm(b *snapshot.Box) *runner.VM {
	l.t.Helper()
	vm := l.vms.last(b.ID())
	if vm == nil {
		l.t.Fatalf("box %s never started", b.ID())
	}
	return vm
}

// requireRunning fails unless the box is running in vm and its guest answers.
func (l *liveHome) requireRunning(b *snapshot.Box, vm *runner.VM) {
	l.t.Helper()
	if st, err := b.State(l.ctx); err != nil || st != snapshot.Running {
		l.t.Fatalf("state is %s (%v), want running", st, err)
	}
	if l.vms.last(b.ID()) != vm {
		l.t.Fatal("the box was restarted")
	}
	select {
	case <-vm.Done():
		l.t.Fatalf("the VM exited: %v", vm.Err())
	default:
	}
	ctx, cancel := context.WithTimeout(l.ctx, 30*time.Second)
	defer cancel()
	if _, err := vm.Agent().Ping(ctx); err != nil {
		l.t.Fatalf("the guest does not answer: %v", err)
	}
}

// write replaces the note in the running box's container disk (the agent
// fsyncs it).
func (l *liveHome) write(b *snapshot.Box, note string) {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(l.ctx, 30*time.Second)
	defer cancel()
	if err := l.vm(b).Agent().WriteFile(ctx, runner.DiskContainer, noteFile, []byte(note)); err != nil {
		l.t.Fatalf("guest write: %v", err)
	}
}

// read is the note as the running guest sees it.
func (l *liveHome) read(b *snapshot.Box) string {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(l.ctx, 30*time.Second)
	defer cancel()
	data, err := l.vm(b).Agent().ReadFile(ctx, runner.DiskContainer, noteFile)
	if err != nil {
		l.t.Fatalf("guest read: %v", err)
	}
	return string(data)
}

// within runs fn and fails the test if it does not return in time.
func (l *liveHome) within(d time.Duration, what string, fn func() error) error {
	l.t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		l.t.Fatalf("%s hangs", what)
		return nil
	}
}

func (l *liveHome) pause(vm *runner.VM) {
	l.t.Helper()
	if err := vm.Pause(l.ctx); err != nil {
		l.t.Fatal(err)
	}
}

func (l *liveHome) resume(vm *runner.VM) {
	l.t.Helper()
	if err := vm.Resume(l.ctx); err != nil {
		l.t.Fatal(err)
	}
}

// currentNote reads the note from the box's current container disk, which
// must hold a cleanly unmounted or frozen filesystem.
func (l *liveHome) currentNote(b *snapshot.Box) string {
	l.t.Helper()
	v, err := b.OpenDisk(l.ctx, snapshot.ContainerDisk)
	if err != nil {
		l.t.Fatal(err)
	}
	return l.noteIn(v, false)
}

// snapshotNote reads the note from a snapshot's container disk. Only a
// crash-consistent one may need its ext4 journal replayed, as a mount after
// a power cut would.
func (l *liveHome) snapshotNote(b *snapshot.Box, name string) string {
	l.t.Helper()
	info, err := b.Snapshots().Get(l.ctx, name)
	if err != nil {
		l.t.Fatal(err)
	}
	v, err := b.Snapshots().OpenDisk(l.ctx, name, snapshot.ContainerDisk)
	if err != nil {
		l.t.Fatal(err)
	}
	return l.noteIn(v, info.Consistency == snapshot.Crash)
}

// noteIn streams the view to a file, as a reader of disk.qcow2 gets it, and
// reads the note from its ext4 with debugfs. The image must pass qemu-img
// check and the filesystem e2fsck: read-only when the capture claims to be
// consistent (FIFREEZE and unmount both flush the journal), else after a
// journal replay.
func (l *liveHome) noteIn(v *snapshot.DiskView, replay bool) string {
	l.t.Helper()
	defer v.Close()
	dir := l.t.TempDir()
	image, raw := filepath.Join(dir, "disk.qcow2"), filepath.Join(dir, "disk.raw")
	f, err := os.Create(image)
	if err != nil {
		l.t.Fatal(err)
	}
	_, err = v.WriteTo(l.ctx, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		l.t.Fatal(err)
	}
	runCommand(l.t, "qemu-img", "check", "-q", image)
	runCommand(l.t, "qemu-img", "convert", "-O", "raw", image, raw)
	if replay {
		// Exit status 1: errors corrected, here the journal replayed.
		if out, err := exec.Command("e2fsck", "-fy", raw).CombinedOutput(); err != nil && exitCode(err) != 1 {
			l.t.Fatalf("e2fsck -fy: %v\n%s", err, out)
		}
	} else {
		runCommand(l.t, "e2fsck", "-fn", raw)
	}
	return runCommand(l.t, "debugfs", "-R", "cat /"+noteFile, raw)
}

func exitCode(err error) int {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	return -1
}

// digest hashes the standalone image a view streams.
func (l *liveHome) digest(v *snapshot.DiskView) string {
	l.t.Helper()
	h := sha256.New()
	if _, err := v.WriteTo(l.ctx, h); err != nil {
		l.t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// listing describes every box and snapshot, and names every file of the
// home but the database's, to compare before and after.
func (l *liveHome) listing() string {
	l.t.Helper()
	boxes, err := l.rt.ListBoxes(l.ctx)
	if err != nil {
		l.t.Fatal(err)
	}
	var out strings.Builder
	err = filepath.WalkDir(l.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if rel, _ := filepath.Rel(l.dir, path); rel != "db" && !strings.HasPrefix(rel, "db/") {
			fmt.Fprintln(&out, rel)
		}
		return nil
	})
	if err != nil {
		l.t.Fatal(err)
	}
	for _, info := range boxes {
		fmt.Fprintf(&out, "%s %s\n", info.Name, info.Status)
		snaps, err := l.box(info.Name).Snapshots().List(l.ctx)
		if err != nil {
			l.t.Fatal(err)
		}
		for _, s := range snaps {
			fmt.Fprintf(&out, "  %s %s %s\n", s.Name, s.ID, s.Consistency)
		}
	}
	return out.String()
}

func (l *liveHome) requireClean() {
	l.t.Helper()
	r, err := l.rt.Fsck(l.ctx, false)
	if err != nil {
		l.t.Fatal(err)
	}
	for _, p := range r.Problems {
		l.t.Errorf("fsck: %s", p)
	}
}

// vmLog is the runner's Engine as the engine sees it, noting each VM it
// starts so that the test can reach the guest agent and QMP behind the
// engine's Instance, and when the engine asks a guest to freeze.
type vmLog struct {
	snapshot.Runner
	mu       sync.Mutex
	started  []*runner.VM
	byBox    map[string]*runner.VM
	freezing chan struct{} // closed at the next Freeze, if set
	pause    bool          // pause the VM right after the next disk switch
}

// pauseAfterNextSwitch makes the guest stop answering (QMP stop) right
// after the engine next switches its disks, while it is frozen.
func (v *vmLog) pauseAfterNextSwitch() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.pause = true
}

func (v *vmLog) takePause() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	p := v.pause
	v.pause = false
	return p
}

// nextFreeze returns a channel closed when the engine next asks a guest to
// freeze.
func (v *vmLog) nextFreeze() <-chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.freezing = make(chan struct{})
	return v.freezing
}

func (v *vmLog) freezeAsked() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.freezing != nil {
		close(v.freezing)
		v.freezing = nil
	}
}

// loggedVM is a real VM whose Freeze the log hears of.
type loggedVM struct {
	*runner.VM
	log *vmLog
}

func (vm loggedVM) Freeze(ctx context.Context) error {
	vm.log.freezeAsked()
	return vm.VM.Freeze(ctx)
}

func (vm loggedVM) SwitchDisks(ctx context.Context, guestOverlay, containerOverlay string) error {
	if err := vm.VM.SwitchDisks(ctx, guestOverlay, containerOverlay); err != nil {
		return err
	}
	if vm.log.takePause() {
		return vm.Pause(ctx)
	}
	return nil
}

func (v *vmLog) Start(ctx context.Context, spec snapshot.RunSpec) (snapshot.Instance, error) {
	inst, err := v.Runner.Start(ctx, spec)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	vm := inst.(*runner.VM)
	if v.byBox == nil {
		v.byBox = map[string]*runner.VM{}
	}
	v.byBox[spec.BoxID] = vm
	v.started = append(v.started, vm)
	return loggedVM{VM: vm, log: v}, nil
}

func (v *vmLog) last(boxID string) *runner.VM {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.byBox[boxID]
}

func (v *vmLog) all() []*runner.VM {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]*runner.VM(nil), v.started...)
}

// requireExited fails unless vm's QEMU has exited and been reaped.
func requireExited(t *testing.T, vm *runner.VM) {
	t.Helper()
	select {
	case <-vm.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("QEMU pid %d still runs", vm.PID())
	}
	if err := syscall.Kill(vm.PID(), 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("QEMU pid %d still exists (kill 0: %v)", vm.PID(), err)
	}
}

// guestAssets is the directory of the guest kernel and initramfs:
// $BOXLITE_GUEST_DIR, else bin/guest as make guest builds it.
// scripts/guest.sh brings it up to date (cached: usually instant).
func guestAssets(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("BOXLITE_GUEST_DIR")
	if dir == "" {
		dir = filepath.Join(root, "bin", "guest")
	}
	cmd := exec.Command(filepath.Join(root, "scripts", "guest.sh"), dir)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/guest.sh: %v\n%s", err, out)
	}
	return dir
}

func runCommand(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// testWriter sends log lines to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
