package nodes

import (
	"context"
	"strings"
)

// boxFile is what a path inside a box's directory holds: a disk of the box
// or of one of its snapshots, or generated content. A file that a copy
// into clones/NAME made shows what the box it became holds at that path.
type boxFile struct {
	disk    *diskFile // a disk, not attached to the tree
	content func(ctx context.Context) ([]byte, error)
}

// boxFileAt resolves rel ("disk.qcow2", "settings/KEY",
// "snapshots/S/snapshot.json") in box boxID through the nodes that
// boxes/NAME/rel would look up; ok is false when the box has no such file.
func boxFileAt(ctx context.Context, e *env, boxID, rel string) (boxFile, bool) {
	box := &boxDir{fixedDir: newFixedDir(e), id: boxID}
	var n node
	switch parts := strings.Split(rel, "/"); len(parts) {
	case 1:
		n = box.entry(parts[0])
	case 2:
		if settings, ok := box.entry(parts[0]).(*settingsDir); ok {
			n = settings.entry(parts[1])
		}
	case 3:
		if snapshots, ok := box.entry(parts[0]).(*snapshotsDir); ok {
			if info, err := e.snapshotNamed(ctx, boxID, parts[1]); err == nil {
				n = snapshots.snapNode(info).entry(parts[2])
			}
		}
	}
	switch n := n.(type) {
	case *diskFile:
		return boxFile{disk: n}, true
	case *genFile:
		return boxFile{content: n.content}, true
	case *ctlFile:
		return boxFile{content: n.content}, true
	}
	return boxFile{}, false
}

// size is the file's size now.
func (f boxFile) size(ctx context.Context, e *env) (int64, error) {
	if f.disk != nil {
		return f.disk.ref.diskSize(ctx, e, f.disk.disk)
	}
	data, err := f.content(ctx)
	return int64(len(data)), err
}
