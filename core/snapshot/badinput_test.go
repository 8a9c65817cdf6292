package snapshot

import (
	"bytes"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// Bad input gets the documented error and changes nothing (SPEC 2.1, 3).

// badNames breaks each name rule of SPEC 2.1 once.
func badNames() map[string]string {
	return map[string]string{
		"empty":          "",
		"256 bytes":      strings.Repeat("n", 256),
		"slash":          "a/b",
		"NUL":            "a\x00b",
		"leading dot":    ".hidden",
		"dot":            ".",
		"dot dot":        "..",
		"only a slash":   "/",
		"trailing slash": "x/",
	}
}

// files lists the home's files and directories (the database and lock
// files aside): what a refused request must leave as it was.
func (h *home) files() []string {
	h.t.Helper()
	var out []string
	err := filepath.WalkDir(h.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(h.dir, path)
		if rel == "db" {
			return filepath.SkipDir
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// unchanged runs fn, requires its error to be of class want, and requires
// the home to be as it was.
func (h *home) unchanged(what string, want error, fn func() error) {
	h.t.Helper()
	state, files := h.observe(), h.files()
	requireErr(h.t, fn(), want, what)
	if got := h.observe(); !equalObserved(got, state) {
		h.t.Fatalf("%s was refused but changed the home:\n%s\nwas\n%s", what, got, state)
	}
	if got := h.files(); !slices.Equal(got, files) {
		h.t.Fatalf("%s was refused but changed the files:\n%v\nwere\n%v", what, got, files)
	}
}

func TestBadNamesAreInvalidAndChangeNothing(t *testing.T) {
	h := newHome(t, Options{})
	a := h.createBox("a")
	h.snapshot(a, "v1")
	for rule, name := range badNames() {
		for what, fn := range map[string]func() error{
			"create box": func() error {
				_, err := h.rt.CreateBox(h.ctx, name, CreateOptions{DiskSize: testDiskSize})
				return err
			},
			"rename box":    func() error { return h.rt.RenameBox(h.ctx, "a", name) },
			"clone":         func() error { _, err := a.Clone(h.ctx, name, DefaultCloneOptions()); return err },
			"reserve clone": func() error { _, err := h.rt.ReserveClone(h.ctx, name); return err },
			"import":        func() error { _, err := h.rt.NewImport(h.ctx, name, ImportOptions{}); return err },
			"snapshot create": func() error {
				_, err := a.Snapshots().Create(h.ctx, name, DefaultSnapshotOptions())
				return err
			},
			"snapshot rename": func() error { return a.Snapshots().Rename(h.ctx, "v1", name) },
		} {
			h.unchanged(what+" with a name that is "+rule, errdefs.ErrInvalid, fn)
		}
	}
}

// The longest valid name, 255 bytes, works everywhere a name goes.
func TestLongestNameIsAccepted(t *testing.T) {
	h := newHome(t, Options{})
	long := strings.Repeat("n", 255)
	a := h.createBox(long)
	h.write(a, ContainerDisk, 0x11, 0, 1<<20)
	h.snapshot(a, long)
	h.clone(a, "c", long)
	if err := a.Snapshots().Rename(h.ctx, long, "short"); err != nil {
		t.Fatalf("rename a snapshot from a 255-byte name: %v", err)
	}
	if err := a.Snapshots().Rename(h.ctx, "short", long); err != nil {
		t.Fatalf("rename a snapshot to a 255-byte name: %v", err)
	}
	if err := a.Snapshots().Restore(h.ctx, long); err != nil {
		t.Fatal(err)
	}
	if err := a.Snapshots().Remove(h.ctx, long); err != nil {
		t.Fatal(err)
	}
	h.requireClean()
}

func TestTakenNamesExist(t *testing.T) {
	h := newHome(t, Options{})
	a := h.createBox("a")
	h.createBox("b")
	h.snapshot(a, "v1")
	h.snapshot(a, "v2")
	for what, fn := range map[string]func() error{
		"create box": func() error {
			_, err := h.rt.CreateBox(h.ctx, "b", CreateOptions{DiskSize: testDiskSize})
			return err
		},
		"rename box":      func() error { return h.rt.RenameBox(h.ctx, "a", "b") },
		"clone":           func() error { _, err := a.Clone(h.ctx, "b", DefaultCloneOptions()); return err },
		"reserve clone":   func() error { _, err := h.rt.ReserveClone(h.ctx, "a"); return err },
		"import":          func() error { _, err := h.rt.NewImport(h.ctx, "b", ImportOptions{}); return err },
		"snapshot create": func() error { _, err := a.Snapshots().Create(h.ctx, "v1", DefaultSnapshotOptions()); return err },
		"snapshot rename": func() error { return a.Snapshots().Rename(h.ctx, "v1", "v2") },
	} {
		h.unchanged(what+" to a taken name", errdefs.ErrExists, fn)
	}

	// A name being made by a clone target or an import is taken too.
	ct, err := h.rt.ReserveClone(h.ctx, "reserved")
	if err != nil {
		t.Fatal(err)
	}
	defer ct.Close()
	im, err := h.rt.NewImport(h.ctx, "importing", ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Abort()
	for _, name := range []string{"reserved", "importing"} {
		_, err := h.rt.CreateBox(h.ctx, name, CreateOptions{DiskSize: testDiskSize})
		requireErr(t, err, errdefs.ErrExists, "create box "+name+" while it is being made")
		requireErr(t, h.rt.RenameBox(h.ctx, "a", name), errdefs.ErrExists, "rename to "+name+" while it is being made")
	}
}

func TestMissingSnapshotsAndBoxesAreNotFound(t *testing.T) {
	h := newHome(t, Options{})
	a := h.createBox("a")
	h.snapshot(a, "v1")
	s := a.Snapshots()
	for what, fn := range map[string]func() error{
		"restore":    func() error { return s.Restore(h.ctx, "v9") },
		"remove":     func() error { return s.Remove(h.ctx, "v9") },
		"get":        func() error { _, err := s.Get(h.ctx, "v9"); return err },
		"rename":     func() error { return s.Rename(h.ctx, "v9", "v10") },
		"open":       func() error { _, err := s.OpenDisk(h.ctx, "v9", ContainerDisk); return err },
		"export":     func() error { return s.Export(h.ctx, "v9", io.Discard, DefaultExportOptions()) },
		"clone of":   func() error { _, err := a.Clone(h.ctx, "c", CloneOptions{COW: true, FromSnapshot: "v9"}); return err },
		"box":        func() error { _, err := h.rt.Box(h.ctx, "nope"); return err },
		"box remove": func() error { return h.rt.RemoveBox(h.ctx, "nope") },
		"box rename": func() error { return h.rt.RenameBox(h.ctx, "nope", "other") },
	} {
		h.unchanged(what+" of a missing snapshot or box", errdefs.ErrNotFound, fn)
	}
}

func TestBadRequestsAreInvalidAndChangeNothing(t *testing.T) {
	h := newHome(t, Options{})
	a := h.createBox("a")
	h.write(a, ContainerDisk, 0x11, 0, 1<<20)
	for what, fn := range map[string]func() error{
		"a disk size that is not a multiple of 512": func() error {
			_, err := h.rt.CreateBox(h.ctx, "b", CreateOptions{DiskSize: 64<<20 + 1})
			return err
		},
		"a disk smaller than 16 MiB": func() error {
			_, err := h.rt.CreateBox(h.ctx, "b", CreateOptions{DiskSize: 1 << 20})
			return err
		},
		"from-dir that is not a directory": func() error {
			_, err := h.rt.CreateBox(h.ctx, "b", CreateOptions{DiskSize: testDiskSize, FromDir: filepath.Join(h.dir, "nope")})
			return err
		},
		"state snapshotting": func() error { return a.SetState(h.ctx, Snapshotting) },
		"setting not a bool": func() error { return a.SetSetting(h.ctx, "snapshot.quiesce", "maybe") },
		"level out of range": func() error { return a.SetSetting(h.ctx, "export.compression_level", "23") },
		"timeout zero":       func() error { return a.SetSetting(h.ctx, "snapshot.quiesce_timeout_secs", "0") },
		"disk written out of order": func() error {
			w, err := a.NewDiskWriter(h.ctx, ContainerDisk)
			if err != nil {
				return err
			}
			defer w.Abort()
			_, err = w.WriteAt(make([]byte, 512), 4096)
			return err
		},
		"empty disk image": func() error {
			w, err := a.NewDiskWriter(h.ctx, ContainerDisk)
			if err != nil {
				return err
			}
			return w.Commit(h.ctx)
		},
		"raw image of an odd size": func() error {
			w, err := a.NewDiskWriter(h.ctx, ContainerDisk)
			if err != nil {
				return err
			}
			if _, err := w.WriteAt(bytes.Repeat([]byte{1}, 1000), 0); err != nil {
				return err
			}
			return w.Commit(h.ctx)
		},
	} {
		h.unchanged(what, errdefs.ErrInvalid, fn)
	}
	h.unchanged("start with no runner", errdefs.ErrUnsupported, func() error { return a.SetState(h.ctx, Running) })
	h.unchanged("an unknown setting", errdefs.ErrNotFound, func() error { return a.SetSetting(h.ctx, "clone.fast", "true") })

	// A qcow2 that needs a backing file (the box's own active layer) is not
	// a whole disk.
	h.unchanged("a disk image with a backing file", errdefs.ErrCorrupt, func() error {
		return writeDisk(h.ctx, a, ContainerDisk, h.active(a, ContainerDisk))
	})
	// Garbage instead of an archive: nothing is made, nothing left in tmp/.
	h.unchanged("an import of garbage", errdefs.ErrCorrupt, func() error {
		_, err := h.rt.Import(h.ctx, bytes.NewReader(bytes.Repeat([]byte("not an archive"), 1000)), "b", ImportOptions{})
		return err
	})
	h.requireClean()
}
