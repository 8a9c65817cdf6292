package snapshot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/qcow2"
)

// testDiskSize keeps every container disk small: the engine's cost does not
// depend on it, and the oracles (qemu-img, qemu-io) stay fast.
const testDiskSize = 64 << 20

// hangLimit is how long a call that must not wait may take before a test
// calls it a hang. It is a liveness bound, not a speed figure.
const hangLimit = 20 * time.Second

// home is a test's engine home: a directory in t.TempDir() and the Runtime
// that has it open.
type home struct {
	t    *testing.T
	ctx  context.Context
	dir  string
	rt   *Runtime
	opts Options
}

func newHome(t *testing.T, opts Options) *home {
	t.Helper()
	return openHome(t, filepath.Join(t.TempDir(), "home"), opts)
}

// openHome opens (or creates) the home at dir; the test closes it at its end.
func openHome(t *testing.T, dir string, opts Options) *home {
	t.Helper()
	h := &home{t: t, ctx: context.Background(), dir: dir, opts: opts}
	h.open()
	t.Cleanup(func() { h.close() })
	return h
}

func (h *home) open() {
	h.t.Helper()
	rt, err := Open(h.ctx, h.dir, h.opts)
	if err != nil {
		h.t.Fatalf("open home: %v", err)
	}
	h.rt = rt
}

func (h *home) close() {
	if h.rt != nil {
		if err := h.rt.Close(); err != nil {
			h.t.Errorf("close home: %v", err)
		}
		h.rt = nil
	}
}

// reopen closes the home and opens it again, as the next mount would.
func (h *home) reopen() {
	h.t.Helper()
	h.close()
	h.open()
}

func (h *home) createBox(name string) *Box {
	h.t.Helper()
	if _, err := h.rt.CreateBox(h.ctx, name, CreateOptions{DiskSize: testDiskSize, Image: "test"}); err != nil {
		h.t.Fatalf("create box %s: %v", name, err)
	}
	return h.box(name)
}

func (h *home) box(name string) *Box {
	h.t.Helper()
	b, err := h.rt.Box(h.ctx, name)
	if err != nil {
		h.t.Fatalf("box %s: %v", name, err)
	}
	return b
}

func (h *home) snapshot(b *Box, name string) SnapshotInfo {
	h.t.Helper()
	s, err := b.Snapshots().Create(h.ctx, name, DefaultSnapshotOptions())
	if err != nil {
		h.t.Fatalf("snapshot %s: %v", name, err)
	}
	return s
}

func (h *home) clone(b *Box, name, fromSnapshot string) *Box {
	h.t.Helper()
	opts := DefaultCloneOptions()
	opts.FromSnapshot = fromSnapshot
	if _, err := b.Clone(h.ctx, name, opts); err != nil {
		h.t.Fatalf("clone %s (from snapshot %q): %v", name, fromSnapshot, err)
	}
	return h.box(name)
}

// active is the path of a box's active layer, where its VM would write.
func (h *home) active(b *Box, d Disk) string {
	return filepath.Join(h.dir, "boxes", b.ID(), d.FileName())
}

// write stands in for a VM writing to a stopped box's disk: qemu-io writes a
// pattern through QEMU's full block layer into the active layer.
func (h *home) write(b *Box, d Disk, pattern byte, off, length int64) {
	h.t.Helper()
	qemuIO(h.t, h.active(b, d), fmt.Sprintf("write -P 0x%02x %d %d", pattern, off, length))
}

// reads reports whether the box's disk reads pattern over the range, as
// QEMU sees it through the active layer and its chain.
func (h *home) reads(b *Box, d Disk, pattern byte, off, length int64) bool {
	h.t.Helper()
	return qemuReads(h.t, h.active(b, d), pattern, off, length)
}

func qemuIO(t *testing.T, image, command string) {
	t.Helper()
	out, err := exec.Command("qemu-io", "-f", "qcow2", "-c", command, image).CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("failed")) {
		t.Fatalf("qemu-io -c %q %s: %v\n%s", command, image, err, out)
	}
}

// qemuReads asks qemu-io whether image reads pattern over the range. qemu-io
// opens the image read-only, so frozen layers can be checked too.
func qemuReads(t *testing.T, image string, pattern byte, off, length int64) bool {
	t.Helper()
	cmd := fmt.Sprintf("read -P 0x%02x %d %d", pattern, off, length)
	out, err := exec.Command("qemu-io", "-r", "-f", "qcow2", "-c", cmd, image).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-io -c %q %s: %v\n%s", cmd, image, err, out)
	}
	return !bytes.Contains(out, []byte("Pattern verification failed"))
}

// qemuCompare is `qemu-img compare`: whether two images hold the same data.
func qemuCompare(t *testing.T, a, b string) bool {
	t.Helper()
	out, err := exec.Command("qemu-img", "compare", a, b).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return true
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return false
	}
	t.Fatalf("qemu-img compare %s %s: %v\n%s", a, b, err, out)
	return false
}

// qemuCheck is `qemu-img check`: the image has no errors and no leaks.
func qemuCheck(t *testing.T, image string) {
	t.Helper()
	if out, err := exec.Command("qemu-img", "check", image).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img check %s: %v\n%s", image, err, out)
	}
}

// saveView streams a disk view to a file in the test's temp dir, as
// `cp boxes/x/disk.qcow2 /tmp/` would, and returns its path.
func (h *home) saveView(v *DiskView) string {
	h.t.Helper()
	path := filepath.Join(h.t.TempDir(), string(v.Ref().Disk)+".qcow2")
	f, err := os.Create(path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	n, err := v.WriteTo(h.ctx, f)
	if err != nil {
		h.t.Fatalf("stream %s: %v", v.Ref().Disk, err)
	}
	if n != v.Size() {
		h.t.Fatalf("streamed %d bytes, the view's size is %d", n, v.Size())
	}
	return path
}

// saveDisk saves a box's current disk (snapshot "") or a snapshot's disk.
func (h *home) saveDisk(b *Box, snapshot string, d Disk) string {
	h.t.Helper()
	v := h.openDisk(b, snapshot, d)
	defer v.Close()
	return h.saveView(v)
}

func (h *home) openDisk(b *Box, snapshot string, d Disk) *DiskView {
	h.t.Helper()
	var v *DiskView
	var err error
	if snapshot == "" {
		v, err = b.OpenDisk(h.ctx, d)
	} else {
		v, err = b.Snapshots().OpenDisk(h.ctx, snapshot, d)
	}
	if err != nil {
		h.t.Fatalf("open disk %s (snapshot %q): %v", d, snapshot, err)
	}
	return v
}

// digest is the sha256 of a disk's standalone image: SPEC 2.2 promises the
// same bytes every time for the same state.
func (h *home) digest(b *Box, snapshot string, d Disk) string {
	h.t.Helper()
	v := h.openDisk(b, snapshot, d)
	defer v.Close()
	sum := sha256.New()
	if _, err := v.WriteTo(h.ctx, sum); err != nil {
		h.t.Fatalf("stream %s: %v", d, err)
	}
	return hex.EncodeToString(sum.Sum(nil))[:16]
}

// requireClean runs fsck without repair and fails on any problem at all.
func (h *home) requireClean() {
	h.t.Helper()
	r, err := h.rt.Fsck(h.ctx, false)
	if err != nil {
		h.t.Fatalf("fsck: %v", err)
	}
	if len(r.Problems) > 0 {
		h.t.Fatalf("fsck found problems:\n%s", problemList(r.Problems))
	}
}

func problemList(ps []Problem) string {
	var lines []string
	for _, p := range ps {
		lines = append(lines, "  "+p.String())
	}
	return strings.Join(lines, "\n")
}

// requireErr fails unless err is of class want.
func requireErr(t *testing.T, err, want error, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// observed is what a user can see of a home, by name: every box and
// snapshot with the content of each disk as a digest. Identifiers and
// times are left out, so two homes that went through the same change
// compare equal.
type observed map[string]observedBox

type observedBox struct {
	Status    State
	Image     string
	Origin    string
	Sizes     [2]int64
	Disks     [2]string
	Snapshots map[string]observedSnapshot
}

type observedSnapshot struct {
	Sizes       [2]int64
	Consistency Consistency
	Disks       [2]string
}

func (h *home) observe() observed {
	h.t.Helper()
	boxes, err := h.rt.ListBoxes(h.ctx)
	if err != nil {
		h.t.Fatalf("list boxes: %v", err)
	}
	out := observed{}
	for _, info := range boxes {
		b := h.box(info.Name)
		ob := observedBox{
			Status: info.Status, Image: info.Image,
			Sizes:     [2]int64{info.GuestDiskSize, info.ContainerDiskSize},
			Snapshots: map[string]observedSnapshot{},
		}
		if o := info.Origin; o != nil {
			ob.Origin = o.Kind + ":" + o.Box + ":" + o.Snapshot
		}
		for i, d := range AllDisks() {
			ob.Disks[i] = h.digest(b, "", d)
		}
		snaps, err := b.Snapshots().List(h.ctx)
		if err != nil {
			h.t.Fatalf("list snapshots of %s: %v", info.Name, err)
		}
		for _, s := range snaps {
			snap := observedSnapshot{Sizes: [2]int64{s.GuestDiskBytes, s.ContainerDiskBytes}, Consistency: s.Consistency}
			for i, d := range AllDisks() {
				snap.Disks[i] = h.digest(b, s.Name, d)
			}
			ob.Snapshots[s.Name] = snap
		}
		out[info.Name] = ob
	}
	return out
}

func equalObserved(a, b observed) bool { return reflect.DeepEqual(a, b) }

func (o observed) String() string {
	var names []string
	for n := range o {
		names = append(names, n)
	}
	sort.Strings(names)
	var sb strings.Builder
	for _, n := range names {
		b := o[n]
		fmt.Fprintf(&sb, "  %s: %s %s %v %v\n", n, b.Status, b.Origin, b.Sizes, b.Disks)
		var snaps []string
		for s := range b.Snapshots {
			snaps = append(snaps, s)
		}
		sort.Strings(snaps)
		for _, s := range snaps {
			fmt.Fprintf(&sb, "    @%s: %v %s %v\n", s, b.Snapshots[s].Sizes, b.Snapshots[s].Consistency, b.Snapshots[s].Disks)
		}
	}
	return sb.String()
}

// backingOf reads the backing file name an image's header records.
func backingOf(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	info, err := qcow2.Inspect(f, st.Size())
	if err != nil {
		t.Fatalf("inspect %s: %v", path, err)
	}
	return info.BackingFile
}

// layerFiles lists bases/ and the bytes the files occupy on disk.
func layerFiles(t *testing.T, dir string) (map[string]int64, int64) {
	t.Helper()
	files := map[string]int64{}
	var total int64
	err := filepath.WalkDir(filepath.Join(dir, "bases"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		files[filepath.Base(path)] = st.Size()
		total += allocated(st)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, total
}

// allocated is the bytes a file occupies on disk (holes excluded).
func allocated(st os.FileInfo) int64 {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return sys.Blocks * 512
	}
	return st.Size()
}

// stalledExport starts an export of b into a pipe and reads its first
// bytes: the export has taken its point-in-time state and now waits for its
// consumer. finish reads the rest and returns the whole archive.
func (h *home) stalledExport(b *Box) (finish func() []byte) {
	h.t.Helper()
	pr, pw := io.Pipe()
	exported := make(chan error, 1)
	go func() {
		err := b.Export(h.ctx, pw, DefaultExportOptions())
		pw.CloseWithError(err)
		exported <- err
	}()
	first := make([]byte, 1)
	if _, err := io.ReadFull(pr, first); err != nil {
		h.t.Fatalf("export: %v", err)
	}
	return func() []byte {
		h.t.Helper()
		rest, err := io.ReadAll(pr)
		if err != nil {
			h.t.Fatalf("export: %v", err)
		}
		if err := <-exported; err != nil {
			h.t.Fatalf("export: %v", err)
		}
		return append(first, rest...)
	}
}

// within runs fn and fails the test if it has not returned after hangLimit:
// for calls that must fail or succeed at once rather than wait.
func within(t *testing.T, what string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(hangLimit):
		t.Fatalf("%s did not return in %v: it waits instead of failing at once", what, hangLimit)
		return nil
	}
}
