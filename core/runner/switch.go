package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// switchTimeout bounds the wait for QEMU's answer to a disk switch. The
// caller's ctx does not: once sent, the switch happens or not inside QEMU,
// and returning before knowing which would leave the caller guessing.
const switchTimeout = 30 * time.Second

// layerState is how QEMU holds each disk's active layer.
type layerState struct {
	// generation numbers the node names of successive overlays.
	generation int
	// byPath lists the active layers QEMU opened by path name (those Start
	// gave it). Switching away from one makes QEMU reopen it read-only by
	// that name, so the name must not point at another file by then.
	// Overlays are handed over as descriptors instead and are free to move.
	byPath map[string]fileIdentity
	// fdsets holds the descriptor set of each active layer that was passed
	// as an overlay. Once it is frozen, its read-write descriptor goes.
	fdsets map[string]overlayFds
}

// overlayFds is a QEMU fdset holding an overlay: rw is QEMU's number for
// the read-write descriptor in it.
type overlayFds struct {
	set, rw int64
}

type fileIdentity struct {
	path     string
	dev, ino uint64
}

// identify records the identity of the disks QEMU is about to open by path.
func (v *VM) identify(spec Spec) {
	v.layers.byPath = make(map[string]fileIdentity, 2)
	v.layers.fdsets = make(map[string]overlayFds, 2)
	for _, d := range spec.disks() {
		if id, err := identityOf(d.path); err == nil {
			v.layers.byPath[d.name] = id
		}
	}
}

func identityOf(path string) (fileIdentity, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return fileIdentity{}, err
	}
	return fileIdentity{path: path, dev: st.Dev, ino: st.Ino}, nil
}

// SwitchDisks makes each given overlay the active layer of its disk, in one
// atomic QMP transaction: from then on the guest writes only into the
// overlays, and the layers they replace are never written again. An empty
// overlay path leaves that disk alone.
//
// Each overlay must be an existing qcow2 file of the disk's size whose
// backing is the current active layer: QEMU attaches the running layer as
// its backing in memory and neither reads nor rewrites the overlay's
// backing name. Freeze the guest first for a consistent capture; QEMU
// flushes the old layers either way.
//
// The overlays are passed to QEMU as open descriptors, so once SwitchDisks
// returns, both the overlays and the replaced layers may be renamed. A layer
// that Start opened must, until it is switched away from, either stay at its
// path or be gone from it: another file in its place is refused (ErrBusy).
func (v *VM) SwitchDisks(ctx context.Context, guestOverlay, containerOverlay string) error {
	v.switchMu.Lock()
	defer v.switchMu.Unlock()
	if v.exited() {
		return fmt.Errorf("box %s: switch disks: the VM is not running: %w", v.id, errdefs.ErrBusy)
	}
	q := v.monitor()
	var actions []any
	added := map[string]overlayFds{}
	ok := false
	defer func() {
		if !ok {
			for _, fds := range added {
				v.removeFds(fds.set, -1)
			}
		}
	}()
	for _, d := range [...]struct{ name, overlay string }{{DiskGuest, guestOverlay}, {DiskContainer, containerOverlay}} {
		if d.overlay == "" {
			continue
		}
		if err := v.layers.checkReplaceable(d.name); err != nil {
			return fmt.Errorf("box %s: %w", v.id, err)
		}
		fds, err := v.addOverlay(ctx, q, d.overlay)
		if fds.set >= 0 {
			added[d.name] = fds
		}
		if err != nil {
			return fmt.Errorf("box %s: disk %s: %w", v.id, d.name, err)
		}
		v.layers.generation++
		actions = append(actions, map[string]any{
			"type": "blockdev-snapshot-sync",
			"data": map[string]any{
				"device":             d.name,
				"snapshot-file":      fmt.Sprintf("/dev/fdset/%d", fds.set),
				"snapshot-node-name": fmt.Sprintf("%s-%d", d.name, v.layers.generation),
				"format":             "qcow2",
				"mode":               "existing",
			},
		})
	}
	if len(actions) == 0 {
		return fmt.Errorf("box %s: switch disks: no overlay given: %w", v.id, errdefs.ErrInvalid)
	}
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), switchTimeout)
	defer cancel()
	if _, err := q.execute(tctx, "transaction", map[string]any{"actions": actions}); err != nil {
		var refused *qmpError
		if errors.As(err, &refused) {
			return fmt.Errorf("box %s: QEMU refused the disk switch: %w: %w", v.id, err, errdefs.ErrInvalid)
		}
		return fmt.Errorf("box %s: disk switch outcome unknown (stop the box): %w: %w", v.id, err, errdefs.ErrBusy)
	}
	ok = true
	for name, fds := range added {
		delete(v.layers.byPath, name)
		if old, ok := v.layers.fdsets[name]; ok {
			// QEMU reopened the now frozen layer read-only from this set.
			v.removeFds(old.set, old.rw)
		}
		v.layers.fdsets[name] = fds
	}
	return nil
}

// checkReplaceable refuses to switch away from a path-opened layer whose
// name now points at another file: QEMU's read-only reopen would open that
// file as the frozen layer.
func (l *layerState) checkReplaceable(disk string) error {
	want, ok := l.byPath[disk]
	if !ok {
		return nil
	}
	got, err := identityOf(want.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil // the reopen fails and QEMU keeps its descriptor: harmless
	case err != nil:
		return err
	case got != want:
		return fmt.Errorf("active layer %s was replaced while the box runs; move it only after switching: %w",
			want.path, errdefs.ErrBusy)
	}
	return nil
}

// addOverlay hands QEMU two descriptors of the overlay, read-write and
// read-only, in one fdset: QEMU opens "/dev/fdset/N" by picking the one of
// the access mode it wants, now and when it later reopens the layer
// read-only, so it never looks the overlay up by name again. On error, a
// set already made is returned for removal.
func (v *VM) addOverlay(ctx context.Context, q *qmp, path string) (overlayFds, error) {
	fds := overlayFds{set: -1, rw: -1}
	st, err := os.Stat(path)
	if err != nil {
		return fds, fmt.Errorf("overlay %s: %w", path, errdefs.ErrNotFound)
	}
	if !st.Mode().IsRegular() {
		return fds, fmt.Errorf("overlay %s is not a regular file: %w", path, errdefs.ErrInvalid)
	}
	for _, flag := range []int{os.O_RDWR, os.O_RDONLY} {
		f, err := os.OpenFile(path, flag, 0)
		if err != nil {
			return fds, fmt.Errorf("overlay: %w", err)
		}
		args := map[string]any{"opaque": "overlay " + path}
		if fds.set >= 0 {
			args["fdset-id"] = fds.set
		}
		ret, err := q.executeWithFile(ctx, "add-fd", args, f)
		f.Close()
		if err != nil {
			return fds, fmt.Errorf("pass overlay to QEMU: %w", err)
		}
		var info struct {
			Set int64 `json:"fdset-id"`
			FD  int64 `json:"fd"`
		}
		if err := json.Unmarshal(ret, &info); err != nil {
			return fds, fmt.Errorf("QMP add-fd answer: %w", err)
		}
		fds.set = info.Set
		if flag == os.O_RDWR {
			fds.rw = info.FD
		}
	}
	return fds, nil
}

// removeFds drops descriptor fd (-1: all) of fdset set. QEMU keeps the
// duplicates its block layer opened from it.
func (v *VM) removeFds(set, fd int64) {
	ctx, cancel := context.WithTimeout(context.Background(), quitGrace)
	defer cancel()
	args := map[string]any{"fdset-id": set}
	if fd >= 0 {
		args["fd"] = fd
	}
	if _, err := v.monitor().execute(ctx, "remove-fd", args); err != nil {
		v.log.Warn("QMP remove-fd", "fdset", set, "fd", fd, "err", err)
	}
}
