package nodes

import (
	"context"
	"slices"
	"strings"

	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// boxFile is what a path inside a box's directory holds: a disk of the box
// or of one of its snapshots, or generated content. A file that a copy
// into clones/NAME made shows what the box it became holds at that path.
type boxFile struct {
	disk    *diskOf
	content func(ctx context.Context) ([]byte, error)
}

// diskOf is one disk of a box state.
type diskOf struct {
	ref  stateRef
	disk snapshot.Disk
}

// boxFileAt resolves rel ("disk.qcow2", "settings/KEY",
// "snapshots/S/snapshot.json") in box boxID as boxes/NAME/rel would; ok is
// false when the box has no such file.
func boxFileAt(ctx context.Context, e *env, boxID, rel string) (boxFile, bool) {
	box := &boxDir{fixedDir: fixedDir{env: e}, id: boxID}
	parts := strings.Split(rel, "/")
	switch {
	case len(parts) == 1:
		if d, ok := snapshot.DiskFromFileName(rel); ok {
			return boxFile{disk: &diskOf{ref: stateRef{boxID: boxID}, disk: d}}, true
		}
		switch rel {
		case "box.json":
			return boxFile{content: box.boxJSON}, true
		case "state":
			return boxFile{content: box.stateText}, true
		case "restore":
			return boxFile{content: empty}, true
		}
	case len(parts) == 2 && parts[0] == "settings" && slices.Contains(snapshot.SettingKeys(), parts[1]):
		settings := &settingsDir{fixedDir: fixedDir{env: e}, boxID: boxID}
		return boxFile{content: func(ctx context.Context) ([]byte, error) { return settings.value(ctx, parts[1]) }}, true
	case len(parts) == 3 && parts[0] == "snapshots":
		info, err := e.snapshotNamed(ctx, boxID, parts[1])
		if err != nil {
			return boxFile{}, false
		}
		ref := stateRef{boxID: boxID, snapID: info.ID}
		if d, ok := snapshot.DiskFromFileName(parts[2]); ok {
			return boxFile{disk: &diskOf{ref: ref, disk: d}}, true
		}
		if parts[2] == "snapshot.json" {
			return boxFile{content: (&snapshotDir{fixedDir: fixedDir{env: e}, ref: ref}).snapshotJSON}, true
		}
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
