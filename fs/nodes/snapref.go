package nodes

import (
	"context"
	"fmt"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// snapshotByID finds a snapshot of box by its id. A snapshot directory
// holds the id, which survives renames, and needs the name the engine
// addresses snapshots by.
//
// Adapter: the engine has no Snapshots.GetByID yet; this lists the box's
// snapshots (one indexed query) and picks the one.
func snapshotByID(ctx context.Context, box *snapshot.Box, id string) (snapshot.SnapshotInfo, error) {
	list, err := box.Snapshots().List(ctx)
	if err != nil {
		return snapshot.SnapshotInfo{}, err
	}
	for _, s := range list {
		if s.ID == id {
			return s, nil
		}
	}
	return snapshot.SnapshotInfo{}, fmt.Errorf("snapshot %s: %w", id, errdefs.ErrNotFound)
}

// state names a box's current state or one of its snapshots: what a disk
// file or an export shows.
type state struct {
	boxID  string
	snapID string // "" for the box's current state
}

// key is the inode key prefix of the state's paths.
func (s state) key() string {
	if s.snapID == "" {
		return "box/" + s.boxID
	}
	return "snap/" + s.snapID
}

// resolve finds the box and, for a snapshot, its current name.
func (s state) resolve(ctx context.Context, e *env) (*snapshot.Box, string, error) {
	box, err := e.box(ctx, s.boxID)
	if err != nil {
		return nil, "", err
	}
	if s.snapID == "" {
		return box, "", nil
	}
	info, err := snapshotByID(ctx, box, s.snapID)
	return box, info.Name, err
}

// diskSize is the size of disk d of this state as a standalone image, for
// stat: it never opens a view, which on a running box would capture it
// (each capture adds two layers).
func (s state) diskSize(ctx context.Context, e *env, d snapshot.Disk) (int64, error) {
	box, name, err := s.resolve(ctx, e)
	if err != nil {
		return 0, err
	}
	if name == "" {
		return box.DiskSize(ctx, d)
	}
	return box.Snapshots().DiskSize(ctx, name, d)
}

// openDisk opens a point-in-time view of disk d of this state.
func (s state) openDisk(ctx context.Context, e *env, d snapshot.Disk) (*snapshot.DiskView, error) {
	box, name, err := s.resolve(ctx, e)
	if err != nil {
		return nil, err
	}
	if name == "" {
		return box.OpenDisk(ctx, d)
	}
	return box.Snapshots().OpenDisk(ctx, name, d)
}
