package snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// maxSmallFile bounds what a copy may write into box.json, snapshot.json,
// settings and the other small files of a box directory.
const maxSmallFile = 1 << 20

// Incoming is a file a copy tool writes byte by byte into a clone target.
// A disk's bytes are compared with the source's disk as they arrive; while
// they are equal nothing is stored.
type Incoming struct {
	ct   *CloneTarget
	rel  string
	role fileRole

	mu      sync.Mutex
	small   bytes.Buffer // small files
	cmp     *DiskView    // the source disk, when known, opened by the first write
	opened  bool         // whether the first write looked for cmp
	f       *os.File     // staged bytes, once they differ from cmp (or no cmp)
	written int64        // bytes received in order (compared or staged)
	size    int64
	closed  bool
}

// Create opens a file of the copy for writing. A name that is not part of a
// box is ErrInvalid.
func (ct *CloneTarget) Create(ctx context.Context, rel string) (*Incoming, error) {
	role, ok := parseRole(rel)
	ct.mu.Lock()
	defer ct.mu.Unlock()
	if ct.dropped {
		return nil, fmt.Errorf("clones/%s was removed: %w", ct.name, errdefs.ErrNotFound)
	}
	if !ok {
		return nil, ct.refuseLocked(rel)
	}
	ct.setFileLocked(rel, 0)
	return &Incoming{ct: ct, rel: rel, role: role}, nil
}

// comparison opens, at the first write, the source's disk that the bytes
// are compared with. Not at Create: cp creates each disk file and then
// copies it by reference, which needs no view (opening one reads the
// chain's tables, and on a running source captures it).
func (in *Incoming) comparison() {
	if in.opened {
		return
	}
	in.opened = true
	in.ct.mu.Lock()
	defer in.ct.mu.Unlock()
	// Short, local work with no request to stop it: a write has no context.
	in.cmp = in.ct.comparisonLocked(context.Background(), in.role)
}

// comparisonLocked opens the source's disk this file should equal, if the
// copy said where it comes from.
func (ct *CloneTarget) comparisonLocked(ctx context.Context, role fileRole) *DiskView {
	src := ct.compareWithLocked(role)
	if src == nil {
		return nil
	}
	b, err := ct.rt.BoxByID(ctx, src.BoxID)
	if err != nil {
		return nil
	}
	v, err := b.openView(ctx, src.Snapshot, role.disk)
	if err != nil {
		return nil
	}
	return v
}

// compareWithLocked is the state whose disk a file of this role should
// equal, if the copy said where it comes from.
func (ct *CloneTarget) compareWithLocked(role fileRole) *sourceKey {
	src := ct.sourceLocked()
	if src == nil {
		return nil
	}
	k := *src
	if role.snapshot != "" {
		k.Snapshot = role.snapshot // snapshots/S/ of a copied box is that box's snapshot S
	}
	return &k
}

// WriteAt receives bytes at off.
func (in *Incoming) WriteAt(p []byte, off int64) (int, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.role.kind != kindDisk {
		if off+int64(len(p)) > maxSmallFile {
			return 0, fmt.Errorf("%s: too large for a box file: %w", in.rel, errdefs.ErrInvalid)
		}
		b := in.small.Bytes()
		if need := int(off) + len(p); need > len(b) {
			in.small.Write(make([]byte, need-len(b)))
			b = in.small.Bytes()
		}
		copy(b[off:], p)
		in.grow(off + int64(len(p)))
		return len(p), nil
	}
	in.comparison()
	if in.f == nil && off == in.written && in.cmp != nil && off+int64(len(p)) <= in.cmp.Size() {
		same, err := in.equalsSource(p, off)
		if err != nil {
			return 0, err
		}
		if same {
			in.written += int64(len(p))
			in.grow(in.written)
			return len(p), nil
		}
	}
	if err := in.materialize(); err != nil {
		return 0, err
	}
	n, err := in.f.WriteAt(p, off)
	if end := off + int64(n); end > in.written {
		in.written = end
	}
	in.grow(off + int64(n))
	return n, err
}

func (in *Incoming) equalsSource(p []byte, off int64) (bool, error) {
	buf := make([]byte, len(p))
	if _, err := in.cmp.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return bytes.Equal(buf, p), nil
}

func (in *Incoming) grow(size int64) {
	if size > in.size {
		in.size = size
	}
	in.ct.mu.Lock()
	in.ct.setFileLocked(in.rel, in.size)
	in.ct.mu.Unlock()
}

// materialize starts storing bytes: the prefix that equalled the source is
// copied from it first.
func (in *Incoming) materialize() error {
	if in.f != nil {
		return nil
	}
	f, err := os.CreateTemp(in.ct.rt.lay.tmp(), "clone-")
	if err != nil {
		return err
	}
	if in.written > 0 {
		if _, err := io.Copy(f, io.NewSectionReader(in.cmp, 0, in.written)); err != nil {
			f.Close()
			os.Remove(f.Name())
			return err
		}
	}
	in.f = f
	return nil
}

// Truncate sets the file's size (O_TRUNC, ftruncate).
func (in *Incoming) Truncate(size int64) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.role.kind != kindDisk {
		if size > maxSmallFile {
			return fmt.Errorf("%s: too large for a box file: %w", in.rel, errdefs.ErrInvalid)
		}
		b := in.small.Bytes()
		if int(size) <= len(b) {
			in.small.Truncate(int(size))
		} else {
			in.small.Write(make([]byte, int(size)-len(b)))
		}
		in.size = size
		return nil
	}
	if size == in.size {
		return nil
	}
	in.comparison()
	if size < in.written && in.f == nil {
		in.written = size
	}
	if err := in.materialize(); err != nil {
		return err
	}
	in.size = size
	return in.f.Truncate(size)
}

// Abort drops the file.
func (in *Incoming) Abort() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.release()
}

func (in *Incoming) release() {
	if in.closed {
		return
	}
	in.closed = true
	if in.cmp != nil {
		in.cmp.Close()
	}
	if in.f != nil {
		in.f.Close()
		os.Remove(in.f.Name())
	}
}

// Close interprets what was written.
func (in *Incoming) Close(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return nil
	}
	defer in.release()
	ct := in.ct
	ct.mu.Lock()
	defer ct.mu.Unlock()
	switch in.role.kind {
	case kindBoxJSON:
		var v struct{ ID, Name string }
		if json.Unmarshal(in.small.Bytes(), &v) == nil {
			ct.source = ct.rt.findSource(ctx, v.ID, v.Name, "")
		}
		return ct.describedLocked(ctx)
	case kindSnapshotJSON:
		var v struct {
			BoxID string `json:"box_id"`
			Name  string `json:"name"`
		}
		if json.Unmarshal(in.small.Bytes(), &v) == nil {
			ct.source = ct.rt.findSource(ctx, v.BoxID, "", v.Name)
		}
		return ct.describedLocked(ctx)
	case kindSetting:
		return ct.settingLocked(ctx, in.role.key, in.small.String())
	case kindDisk:
		return in.closeDiskLocked(ctx)
	}
	return nil
}

// findSource resolves what box.json or snapshot.json names, if it exists.
func (rt *Runtime) findSource(ctx context.Context, id, name, snapshot string) *sourceKey {
	b, err := rt.BoxByID(ctx, id)
	if err != nil && name != "" {
		b, err = rt.Box(ctx, name)
	}
	if err != nil {
		return nil
	}
	if snapshot != "" {
		if _, err := b.Snapshots().Get(ctx, snapshot); err != nil {
			return nil
		}
	}
	return &sourceKey{BoxID: b.id, Snapshot: snapshot}
}

func (ct *CloneTarget) settingLocked(ctx context.Context, key, value string) error {
	check := DefaultSettings()
	if err := check.Set(key, value); err != nil {
		return err
	}
	if ct.boxID != "" {
		return ct.applySettingLocked(ctx, key, value)
	}
	ct.settings[key] = strings.TrimSpace(value)
	return nil
}

// applySettingLocked sets a copied setting on the bound box, unless the box
// has that value already: a clone starts with its source's settings, and
// each change is a database commit. The box's settings are read once per
// copy (a box directory brings eight): what the copy sets is what they
// become.
func (ct *CloneTarget) applySettingLocked(ctx context.Context, key, value string) error {
	b := ct.rt.mustBox(ct.boxID)
	want := DefaultSettings()
	if err := want.Set(key, value); err != nil {
		return err
	}
	if ct.boxSettings == nil {
		have, err := b.Settings(ctx)
		if err != nil {
			return err
		}
		ct.boxSettings = &have
	}
	w, _ := want.Get(key)
	if h, _ := ct.boxSettings.Get(key); h == w {
		return nil
	}
	if err := b.SetSetting(ctx, key, value); err != nil {
		return err
	}
	return ct.boxSettings.Set(key, value)
}

// closeDiskLocked: a disk equal to the source's shares its layer; one that
// differs is verified, then stored as an overlay of the source's layer (or
// standalone when there is no source). One that came before the copy said
// where it comes from waits for it (see heldDisk).
func (in *Incoming) closeDiskLocked(ctx context.Context) error {
	ct, role := in.ct, in.role
	if in.f == nil && in.size == 0 {
		return nil // created, nothing written
	}
	if in.f == nil && in.cmp != nil && in.written == in.cmp.Size() {
		return ct.sameDiskLocked(ctx, role, in.cmp.Ref())
	}
	if err := in.materialize(); err != nil {
		return err
	}
	if err := in.f.Sync(); err != nil {
		return err
	}
	format, err := vetImage(in.f, in.size)
	if err != nil {
		return err
	}
	d := heldDisk{role: role, f: in.f, size: in.size, format: format}
	in.f = nil // the target has the staged file now
	if ct.awaitingSourceLocked() {
		ct.holdLocked(d)
		return nil
	}
	defer d.drop()
	return ct.storeStagedLocked(ctx, d)
}

func (ct *CloneTarget) sourceLocked() *sourceKey {
	if ct.source != nil {
		return ct.source
	}
	return ct.boundFrom
}

// sameDiskLocked handles a disk copied byte for byte equal to ref.
func (ct *CloneTarget) sameDiskLocked(ctx context.Context, role fileRole, ref DiskRef) error {
	from := sourceKey{BoxID: ref.BoxID, Snapshot: ref.Snapshot}
	if role.snapshot != "" {
		src, err := ct.rt.mustBox(ref.BoxID).source(ctx, ref.Snapshot, true)
		if err != nil {
			return err
		}
		ct.rt.pin(src.layers[ref.Disk])
		ct.rt.unpin(src.pins)
		return ct.addPartLocked(ctx, role.snapshot, role.disk, pendingPart{layer: src.layers[ref.Disk], size: src.sizes[ref.Disk]}, &from)
	}
	if ct.boxID == "" {
		if err := ct.bindLocked(ctx, &from); err != nil {
			return err
		}
		if ref.Disk == role.disk && ref.Snapshot == from.Snapshot {
			return nil
		}
	} else if ct.boundFrom != nil && *ct.boundFrom == from && ref.Disk == role.disk {
		return nil
	}
	return ct.rt.mustBox(ct.boxID).AdoptDisk(ctx, role.disk, ref)
}
