package snapshot

import (
	"context"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/metadata"
)

// A clone target is a name under clones/ that becomes a box as a copy tool
// copies a box or snapshot directory into it (SPEC 2.4):
//
//   - mkdir clones/y reserves the name (ReserveClone);
//   - GNU cp copies each file with copy_file_range, which reaches CopyFrom
//     with the source disk: the first copy from a box or snapshot binds y
//     to it and makes the clone; later copies from the same source are
//     no-ops; copies of snapshots/S/… give y snapshot S, sharing layers;
//   - tools that write bytes instead (rsync, shutil, file managers) reach
//     Create: box.json / snapshot.json name the source, and disk data that
//     equals the source's is not stored; what differs is stored as an
//     overlay of the source's layer.
//
// Files a copy brings that the box generates itself (box.json, state,
// restore, snapshot.json) are accepted and ignored; any other name means
// the copy is not of a box and is refused with ErrInvalid.

// CloneTarget is one name under clones/.
type CloneTarget struct {
	rt   *Runtime
	name string

	mu          sync.Mutex
	boxID       string           // the box, once bound
	boundFrom   *sourceKey       // what the clone was made from
	boxSettings *Settings        // the bound box's, as the copy has set them
	source      *sourceKey       // what the copied files say they come from
	tree        map[string]int64 // names the copy made: files (size) and dirs (-1)
	settings    map[string]string
	snaps       map[string]map[Disk]pendingPart
	held        map[string]heldDisk // disks that came before box.json, by place
	described   bool                // box.json or snapshot.json came
	dropped     bool
}

// sourceKey names a box state: a box's current state or one of its snapshots.
type sourceKey struct {
	BoxID    string
	Snapshot string
}

type pendingPart struct {
	layer string // pinned until the snapshot is made
	size  int64
}

const treeDir = -1

// ReserveClone reserves name for a box that a copy will make (mkdir clones/NAME).
func (rt *Runtime) ReserveClone(ctx context.Context, name string) (*CloneTarget, error) {
	if err := rt.checkNewName(ctx, name, false); err != nil {
		return nil, err
	}
	if err := rt.boxes.reserve(name); err != nil {
		return nil, err
	}
	ct := &CloneTarget{rt: rt, name: name, tree: map[string]int64{}, settings: map[string]string{},
		snaps: map[string]map[Disk]pendingPart{}}
	rt.targets.put(name, ct)
	rt.publish(BoxesChanged, "")
	return ct, nil
}

// CloneTarget returns the target under clones/ called name: one being
// filled, or a box that was made as a clone (then bound to it). nil if none.
func (rt *Runtime) CloneTarget(ctx context.Context, name string) *CloneTarget {
	if ct := rt.targets.get(name); ct != nil {
		return ct
	}
	b, err := rt.Box(ctx, name)
	if err != nil {
		return nil
	}
	info, err := b.Info(ctx)
	if err != nil || info.Origin == nil || info.Origin.Kind != "clone" {
		return nil
	}
	return &CloneTarget{rt: rt, name: name, boxID: b.id, tree: map[string]int64{},
		settings: map[string]string{}, snaps: map[string]map[Disk]pendingPart{}}
}

// CloneNames lists clones/: names being filled, and boxes made as clones.
func (rt *Runtime) CloneNames(ctx context.Context) ([]string, error) {
	boxes, err := rt.ListBoxes(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, n := range rt.targets.names() {
		seen[n] = true
	}
	for _, b := range boxes {
		if b.Origin != nil && b.Origin.Kind == "clone" {
			seen[b.Name] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// Name is the target's name.
func (ct *CloneTarget) Name() string { return ct.name }

// Box is the box the target became, or nil while nothing is bound.
func (ct *CloneTarget) Box() *Box {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	if ct.boxID == "" {
		return nil
	}
	return ct.rt.mustBox(ct.boxID)
}

// Entries lists what the copy made at dir ("" for the top): name → size,
// -1 for a directory.
func (ct *CloneTarget) Entries(dir string) map[string]int64 {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	out := map[string]int64{}
	for p, size := range ct.tree {
		if path.Dir(p) == dirOrDot(dir) {
			out[path.Base(p)] = size
		}
	}
	return out
}

// Stat says whether the copy made rel, and its size (-1 for a directory).
func (ct *CloneTarget) Stat(rel string) (int64, bool) {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	size, ok := ct.tree[rel]
	return size, ok
}

func dirOrDot(dir string) string {
	if dir == "" {
		return "."
	}
	return dir
}

// Remove ends the target: an unbound reservation is dropped; a bound box is
// removed like rmdir boxes/NAME.
func (ct *CloneTarget) Remove(ctx context.Context) error {
	ct.mu.Lock()
	boxID := ct.boxID
	ct.mu.Unlock()
	if boxID != "" {
		b := ct.rt.mustBox(boxID)
		info, err := b.Info(ctx)
		if err != nil {
			return err
		}
		if err := ct.rt.RemoveBox(ctx, info.Name); err != nil {
			return err
		}
	}
	ct.Close()
	return nil
}

// Close forgets the target (the box, if bound, stays).
func (ct *CloneTarget) Close() {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	ct.dropLocked()
}

func (ct *CloneTarget) dropLocked() {
	if ct.dropped {
		return
	}
	ct.dropped = true
	ct.dropHeldLocked()
	var pins []string
	for _, parts := range ct.snaps {
		for _, p := range parts {
			pins = append(pins, p.layer)
		}
	}
	ct.snaps = map[string]map[Disk]pendingPart{}
	if ct.rt.targets.get(ct.name) == ct {
		ct.rt.targets.remove(ct.name)
		ct.rt.boxes.release(ct.name)
	}
	go ct.rt.unpin(pins)
	ct.rt.publish(BoxesChanged, "")
}

// Mkdir records a directory of the copy: settings/, snapshots/, snapshots/S/.
func (ct *CloneTarget) Mkdir(ctx context.Context, rel string) error {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	parts := strings.Split(rel, "/")
	ok := rel == "settings" || rel == "snapshots" ||
		(len(parts) == 2 && parts[0] == "snapshots" && ValidateName(parts[1]) == nil)
	if !ok {
		return ct.refuseLocked(rel)
	}
	if _, exists := ct.tree[rel]; exists {
		return fmt.Errorf("clones/%s/%s: %w", ct.name, rel, errdefs.ErrExists)
	}
	ct.tree[rel] = treeDir
	return nil
}

// refuseLocked fails a name that is not part of a box; a reservation that
// has made nothing yet is dropped, so a copy of something else leaves no box.
func (ct *CloneTarget) refuseLocked(rel string) error {
	if ct.boxID == "" && ct.source == nil && len(ct.tree) == 0 {
		ct.dropLocked()
	}
	err := fmt.Errorf("clones/%s: %q is not part of a box (a box directory holds box.json, the two disks, "+
		"state, restore, settings/ and snapshots/): %w", ct.name, rel, errdefs.ErrInvalid)
	ct.rt.log.Warn("clone refused", "target", ct.name, "name", rel)
	return err
}

// fileKind is what a file in a copied box directory is.
type fileKind int

const (
	kindIgnored      fileKind = iota // generated by the box: accepted, not used
	kindBoxJSON                      // names the source box
	kindSnapshotJSON                 // at the top: names the source snapshot
	kindDisk                         // a disk, at the top or in snapshots/S/
	kindSetting                      // settings/KEY
)

// fileRole parses a path inside a target. rsync writes to ".NAME.XXXXXX"
// and renames; such a name has NAME's role.
type fileRole struct {
	kind     fileKind
	snapshot string // for disks and snapshot.json under snapshots/S/
	disk     Disk
	key      string
}

func parseRole(rel string) (fileRole, bool) {
	dir, base := path.Split(rel)
	base = logicalName(base)
	dir = strings.TrimSuffix(dir, "/")
	parts := strings.Split(dir, "/")
	switch {
	case dir == "":
		switch base {
		case "box.json":
			return fileRole{kind: kindBoxJSON}, true
		case "snapshot.json":
			return fileRole{kind: kindSnapshotJSON}, true
		case "state", "restore":
			return fileRole{kind: kindIgnored}, true
		}
		if d, ok := DiskFromFileName(base); ok {
			return fileRole{kind: kindDisk, disk: d}, true
		}
	case dir == "settings":
		for _, k := range SettingKeys() {
			if k == base {
				return fileRole{kind: kindSetting, key: k}, true
			}
		}
	case len(parts) == 2 && parts[0] == "snapshots":
		if base == "snapshot.json" {
			return fileRole{kind: kindIgnored}, true
		}
		if d, ok := DiskFromFileName(base); ok {
			return fileRole{kind: kindDisk, disk: d, snapshot: parts[1]}, true
		}
	}
	return fileRole{}, false
}

// logicalName maps rsync's temporary ".NAME.XXXXXX" to NAME.
func logicalName(base string) string {
	if strings.HasPrefix(base, ".") {
		if i := strings.LastIndexByte(base, '.'); i > 1 && len(base)-i-1 == 6 {
			return base[1:i]
		}
	}
	return base
}

// Rename moves a file the copy made (rsync's temporary to its final name).
func (ct *CloneTarget) Rename(ctx context.Context, from, to string) error {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	size, ok := ct.tree[from]
	if !ok {
		return fmt.Errorf("clones/%s/%s: %w", ct.name, from, errdefs.ErrNotFound)
	}
	if _, ok := parseRole(to); !ok {
		return ct.refuseLocked(to)
	}
	delete(ct.tree, from)
	ct.tree[to] = size
	return nil
}

// Unlink forgets a file the copy made.
func (ct *CloneTarget) Unlink(ctx context.Context, rel string) error {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	if _, ok := ct.tree[rel]; !ok {
		return fmt.Errorf("clones/%s/%s: %w", ct.name, rel, errdefs.ErrNotFound)
	}
	delete(ct.tree, rel)
	return nil
}

// CopyFrom is copy_file_range into rel from a disk file of the mount.
func (ct *CloneTarget) CopyFrom(ctx context.Context, rel string, src DiskRef) error {
	role, ok := parseRole(rel)
	ct.mu.Lock()
	defer ct.mu.Unlock()
	if !ok || role.kind != kindDisk {
		return ct.refuseLocked(rel)
	}
	from := sourceKey{BoxID: src.BoxID, Snapshot: src.Snapshot}
	if role.snapshot != "" {
		srcBox, err := ct.rt.BoxByID(ctx, src.BoxID)
		if err != nil {
			return err
		}
		st, err := srcBox.source(ctx, src.Snapshot, true)
		if err != nil {
			return err
		}
		ct.rt.pin(st.layers[src.Disk])
		ct.rt.unpin(st.pins)
		ct.setFileLocked(rel, 0)
		return ct.addPartLocked(ctx, role.snapshot, role.disk, pendingPart{layer: st.layers[src.Disk], size: st.sizes[src.Disk]}, &from)
	}
	if ct.boxID == "" {
		if err := ct.bindLocked(ctx, &from); err != nil {
			return err
		}
		ct.setFileLocked(rel, 0)
		if src.Disk == role.disk {
			return nil
		}
	} else if ct.boundFrom != nil && *ct.boundFrom == from && src.Disk == role.disk {
		ct.setFileLocked(rel, 0)
		return nil
	}
	ct.setFileLocked(rel, 0)
	return ct.rt.mustBox(ct.boxID).AdoptDisk(ctx, role.disk, src)
}

func (ct *CloneTarget) setFileLocked(rel string, size int64) {
	if cur, ok := ct.tree[rel]; !ok || cur < size {
		ct.tree[rel] = size
	}
	for dir := path.Dir(rel); dir != "."; dir = path.Dir(dir) {
		if _, ok := ct.tree[dir]; !ok {
			ct.tree[dir] = treeDir
		}
	}
}

// bindLocked makes the box: a clone of from, or an empty box when the copy
// did not say where it comes from.
func (ct *CloneTarget) bindLocked(ctx context.Context, from *sourceKey) error {
	if ct.dropped {
		return fmt.Errorf("clones/%s was removed: %w", ct.name, errdefs.ErrNotFound)
	}
	var info BoxInfo
	var err error
	if from != nil {
		var src *Box
		if src, err = ct.rt.BoxByID(ctx, from.BoxID); err != nil {
			return err
		}
		info, err = src.clone(ctx, ct.name, CloneOptions{COW: true, FromSnapshot: from.Snapshot}, true)
	} else {
		info, err = ct.rt.createBox(ctx, ct.name, CreateOptions{}, true)
	}
	if err != nil {
		return err
	}
	ct.boxID, ct.boundFrom = info.ID, from
	for k, v := range ct.settings {
		if err := ct.applySettingLocked(ctx, k, v); err != nil {
			return err
		}
	}
	return nil
}

// addPartLocked records one disk of a copied snapshot; with both disks, it
// makes the snapshot on the bound box.
func (ct *CloneTarget) addPartLocked(ctx context.Context, snap string, d Disk, part pendingPart, from *sourceKey) error {
	if ct.snaps[snap] == nil {
		ct.snaps[snap] = map[Disk]pendingPart{}
	}
	if old, ok := ct.snaps[snap][d]; ok {
		go ct.rt.unpin([]string{old.layer})
	}
	ct.snaps[snap][d] = part
	if len(ct.snaps[snap]) < len(AllDisks()) {
		return nil
	}
	if ct.boxID == "" {
		// The copy of a box directory met snapshots/S/ before the box's own
		// disks (cp goes in inode order): the box is a clone of the source
		// box's current state, which those disks bring, not of S.
		if err := ct.bindLocked(ctx, currentState(from)); err != nil {
			return err
		}
	}
	parts := ct.snaps[snap]
	delete(ct.snaps, snap)
	defer ct.rt.unpin([]string{parts[GuestDisk].layer, parts[ContainerDisk].layer})
	return ct.rt.mustBox(ct.boxID).Snapshots().adopt(ctx, snap, parts)
}

// currentState is the current state of the box that from is a state of.
func currentState(from *sourceKey) *sourceKey {
	if from == nil {
		return nil
	}
	return &sourceKey{BoxID: from.BoxID}
}

// adopt records a snapshot whose disks are existing frozen layers (a copied
// snapshot), replacing one of the same name.
func (s *Snapshots) adopt(ctx context.Context, name string, parts map[Disk]pendingPart) error {
	b, rt := s.box, s.box.rt
	if err := ValidateName(name); err != nil {
		return err
	}
	old, err := s.row(ctx, name)
	exists := err == nil
	tx0 := newID()[:16]
	final := rt.lay.snapshotDir(b.id, name)
	staged := staging(final, tx0)
	p := plan{BoxID: b.id, Created: []string{rt.lay.rel(staged)},
		Renames: []rename{{From: rt.lay.rel(staged), To: rt.lay.rel(final)}}}
	if exists { // the old directory moves aside, the new one in, then the old one goes
		aside := staging(final, tx0+"-old")
		p.Renames = []rename{{From: rt.lay.rel(final), To: rt.lay.rel(aside)}, p.Renames[0]}
		p.Removes = []string{rt.lay.rel(aside)}
	}
	lock := &lockRequest{BoxID: b.id, From: []State{Stopped, Running}, To: Snapshotting}
	snapID := newID()
	err = rt.mutate(ctx, "snapshot.adopt", p, lock, func(m *mutation) error {
		if err := os.MkdirAll(rt.lay.snapshotsDir(b.id), 0o755); err != nil {
			return err
		}
		if err := os.Mkdir(staged, 0o755); err != nil {
			return err
		}
		for _, d := range AllDisks() {
			if err := os.Link(rt.lay.layer(parts[d].layer), stagedFile(staged, d)); err != nil {
				return err
			}
		}
		return nil
	}, func(tx *metadata.Tx) error {
		if exists {
			if err := tx.DeleteSnapshot(ctx, old.ID); err != nil {
				return err
			}
		}
		return tx.InsertSnapshot(ctx, metadata.Snapshot{
			ID: snapID, BoxID: b.id, Name: name, CreatedAt: time.Now(),
			SnapshotDir:            rt.lay.rel(final),
			GuestDiskSizeBytes:     parts[GuestDisk].size,
			ContainerDiskSizeBytes: parts[ContainerDisk].size,
			Consistency:            string(Clean),
			Layers:                 map[string]string{string(GuestDisk): parts[GuestDisk].layer, string(ContainerDisk): parts[ContainerDisk].layer},
		})
	})
	if err != nil {
		return err
	}
	rt.publish(SnapshotsChanged, b.id)
	return rt.collect(ctx)
}

func stagedFile(dir string, d Disk) string { return dir + "/" + d.FileName() }

// targetSet is the clone targets being filled, by name.
type targetSet struct {
	mu sync.Mutex
	m  map[string]*CloneTarget
}

func newTargetSet() *targetSet { return &targetSet{m: map[string]*CloneTarget{}} }

func (s *targetSet) put(name string, ct *CloneTarget) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[name] = ct
}

func (s *targetSet) get(name string) *CloneTarget {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[name]
}

func (s *targetSet) remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, name)
}

func (s *targetSet) names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for n := range s.m {
		out = append(out, n)
	}
	return out
}
