package nodes

import (
	"context"
	"fmt"

	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// snapshotByID finds a snapshot of a box by its id. A snapshot directory
// holds the id, which survives renames, and needs the name the engine
// addresses snapshots by: the box's snapshot list (one query, kept in
// facts) gives it.
func (e *env) snapshotByID(ctx context.Context, boxID, id string) (snapshot.SnapshotInfo, error) {
	return e.facts.snapshot(ctx, boxID, func(s snapshot.SnapshotInfo) bool { return s.ID == id }, id)
}

// snapshotNamed finds a snapshot of a box by its name.
func (e *env) snapshotNamed(ctx context.Context, boxID, name string) (snapshot.SnapshotInfo, error) {
	return e.facts.snapshot(ctx, boxID, func(s snapshot.SnapshotInfo) bool { return s.Name == name }, fmt.Sprintf("%q", name))
}

// stateRef names a box's current state or one of its snapshots: what a disk
// file or an export shows.
type stateRef struct {
	boxID  string
	snapID string // "" for the box's current state
}

// key is the inode key prefix of the state's paths.
func (s stateRef) key() string {
	if s.snapID == "" {
		return boxKey(s.boxID)
	}
	return snapshotKey(s.snapID)
}

// resolve finds the box and, for a snapshot, its current name.
func (s stateRef) resolve(ctx context.Context, e *env) (*snapshot.Box, string, error) {
	box, snap, err := s.resolveSnapshot(ctx, e)
	return box, snap.Name, err
}

// resolveSnapshot finds the box and, for a snapshot, what it is now.
func (s stateRef) resolveSnapshot(ctx context.Context, e *env) (*snapshot.Box, snapshot.SnapshotInfo, error) {
	box, err := e.box(ctx, s.boxID)
	if err != nil || s.snapID == "" {
		return box, snapshot.SnapshotInfo{}, err
	}
	info, err := e.snapshotByID(ctx, s.boxID, s.snapID)
	return box, info, err
}

// diskSize is the size of disk d of this state as a standalone image, for
// stat: it never opens a view, which on a running box would capture it
// (each capture adds two layers).
func (s stateRef) diskSize(ctx context.Context, e *env, d snapshot.Disk) (int64, error) {
	box, snap, err := s.resolveSnapshot(ctx, e)
	if err != nil {
		return 0, err
	}
	if s.snapID == "" {
		return box.DiskSize(ctx, d)
	}
	return e.facts.snapshotDiskSize(ctx, box, snap, d)
}

// openDisk opens a point-in-time view of disk d of this state.
func (s stateRef) openDisk(ctx context.Context, e *env, d snapshot.Disk) (*snapshot.DiskView, error) {
	box, name, err := s.resolve(ctx, e)
	if err != nil {
		return nil, err
	}
	if name == "" {
		return box.OpenDisk(ctx, d)
	}
	return box.Snapshots().OpenDisk(ctx, name, d)
}
