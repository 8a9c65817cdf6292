package runner

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/qcow2"
)

// The guest assets come from scripts/guest.sh, as make guest builds them;
// the tests build them too when missing (cached, so usually instant).
var guestOnce struct {
	sync.Once
	dir string
	err error
}

func guestDir(t *testing.T) string {
	t.Helper()
	guestOnce.Do(func() {
		root, err := repoRoot()
		if err != nil {
			guestOnce.err = err
			return
		}
		dir := os.Getenv("BOXLITE_GUEST_DIR")
		if dir == "" {
			dir = filepath.Join(root, "bin", "guest")
		}
		cmd := exec.Command(filepath.Join(root, "scripts", "guest.sh"), dir)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			guestOnce.err = errors.New("scripts/guest.sh: " + err.Error() + ": " + string(out))
		}
		guestOnce.dir = dir
	})
	if guestOnce.err != nil {
		t.Fatal(guestOnce.err)
	}
	return guestOnce.dir
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// newTestRunner is a TCG runner (KVM hangs on some hosts; the auto probe
// has its own test) whose VMs all end with the test.
func newTestRunner(t *testing.T, edit func(*Config)) *Runner {
	t.Helper()
	cfg := ForGuestDir(guestDir(t))
	cfg.Accel = AccelTCG
	cfg.RunDir = t.TempDir()
	if edit != nil {
		edit(&cfg)
	}
	r, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
	return r
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// diskSize is the virtual size of the test disks.
const diskSize = 64 << 20

// makeExt4Disk makes a qcow2 holding a fresh ext4 filesystem.
func makeExt4Disk(t *testing.T, path string) {
	t.Helper()
	raw := path + ".raw"
	if err := os.WriteFile(raw, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(raw, diskSize); err != nil {
		t.Fatal(err)
	}
	run(t, "mkfs.ext4", "-q", "-F", raw)
	run(t, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, path)
	if err := os.Remove(raw); err != nil {
		t.Fatal(err)
	}
}

// createOverlay makes an empty qcow2 overlay with the project's own
// creator, as the engine does. Its backing name is written as given
// (relative names resolve against the overlay's directory) and the backing
// file need not exist yet.
func createOverlay(t *testing.T, path, backing string) {
	t.Helper()
	err := qcow2.Create(path, diskSize, qcow2.CreateOptions{BackingFile: backing, BackingFormat: qcow2.FormatQcow2})
	if err != nil {
		t.Fatal(err)
	}
}

// bootBox makes two fresh ext4 disks in dir and boots them.
func bootBox(t *testing.T, r *Runner, id, dir string) (*VM, Spec) {
	t.Helper()
	spec := Spec{ID: id, GuestDisk: filepath.Join(dir, "guest-rootfs.qcow2"), ContainerDisk: filepath.Join(dir, "disk.qcow2")}
	makeExt4Disk(t, spec.GuestDisk)
	makeExt4Disk(t, spec.ContainerDisk)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	began := time.Now()
	vm, err := r.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("measure: boot (%s) took %s", vm.Accel(), time.Since(began).Round(time.Millisecond))
	return vm, spec
}

// guestFile reads path from the ext4 filesystem in image (and its backing
// chain), or returns nil when it does not exist there.
func guestFile(t *testing.T, image, path string) []byte {
	t.Helper()
	raw := filepath.Join(t.TempDir(), "flat.raw")
	run(t, "qemu-img", "convert", "-U", "-O", "raw", image, raw)
	out, err := exec.Command("debugfs", "-R", "cat "+path, raw).Output()
	if err != nil {
		t.Fatalf("debugfs cat %s: %v", path, err)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// checkImage runs qemu-img check on image alone and fails on any finding.
func checkImage(t *testing.T, image string) {
	t.Helper()
	run(t, "qemu-img", "check", "-q", image)
}

func backingName(t *testing.T, image string) string {
	t.Helper()
	var info struct {
		Backing string `json:"backing-filename"`
	}
	if err := json.Unmarshal([]byte(run(t, "qemu-img", "info", "-U", "--output=json", image)), &info); err != nil {
		t.Fatal(err)
	}
	return info.Backing
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// assertGone fails unless QEMU has exited and been reaped.
func assertGone(t *testing.T, vm *VM) {
	t.Helper()
	select {
	case <-vm.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("VM not done")
	}
	if err := syscall.Kill(vm.PID(), 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("QEMU pid %d still exists (kill 0: %v)", vm.PID(), err)
	}
}

// qemuOpenModes lists the access modes (os.O_RDONLY, os.O_RDWR, ...) of
// QEMU's descriptors of the file at path.
func qemuOpenModes(t *testing.T, vm *VM, path string) []int {
	t.Helper()
	want, err := identityOf(path)
	if err != nil {
		t.Fatal(err)
	}
	fdDir := filepath.Join("/proc", strconv.Itoa(vm.PID()), "fd")
	entries, err := os.ReadDir(fdDir)
	if err != nil {
		t.Fatal(err)
	}
	var modes []int
	for _, e := range entries {
		got, err := identityOf(filepath.Join(fdDir, e.Name()))
		if err != nil || got.dev != want.dev || got.ino != want.ino {
			continue
		}
		info, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(vm.PID()), "fdinfo", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(line, "flags:"); ok {
				flags, err := strconv.ParseInt(strings.TrimSpace(v), 8, 64)
				if err != nil {
					t.Fatal(err)
				}
				modes = append(modes, int(flags)&syscall.O_ACCMODE)
			}
		}
	}
	return modes
}
