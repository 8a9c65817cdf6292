package snapshot

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/boxsnap"
	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/core/qcow2"
	"github.com/boxlite-ai/boxlitefs/metadata"
)

// Import creates box name, stopped, from a .boxsnap archive read from r
// (SPEC 2.3). Nothing is created unless the whole archive verifies.
func (rt *Runtime) Import(ctx context.Context, r io.Reader, name string, opts ImportOptions) (BoxInfo, error) {
	im, err := rt.NewImport(ctx, name, opts)
	if err != nil {
		return BoxInfo{}, err
	}
	if _, err := io.Copy(im, r); err != nil {
		im.Abort()
		return BoxInfo{}, err
	}
	return im.Close(ctx)
}

// ImportSession receives an archive as a sequence of writes, for a
// filesystem that gets it through write(2): a bad archive fails the write
// that reveals it.
type ImportSession struct {
	rt       *Runtime
	name     string
	dir      string
	importer *boxsnap.Importer
	once     sync.Once
}

// NewImport starts an import of box name; the name is reserved until Close
// or Abort.
func (rt *Runtime) NewImport(ctx context.Context, name string, opts ImportOptions) (*ImportSession, error) {
	if err := rt.checkNewName(ctx, name, false); err != nil {
		return nil, err
	}
	if err := rt.boxes.reserve(name); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(rt.lay.tmp(), "import-")
	if err != nil {
		rt.boxes.release(name)
		return nil, err
	}
	imp, err := boxsnap.NewImporter(ctx, dir, boxsnap.ReadOptions{Vetter: imageVetter{}, Progress: opts.Progress})
	if err != nil {
		os.RemoveAll(dir)
		rt.boxes.release(name)
		return nil, err
	}
	return &ImportSession{rt: rt, name: name, dir: dir, importer: imp}, nil
}

// Write feeds archive bytes; an error means the archive is refused.
func (im *ImportSession) Write(p []byte) (int, error) { return im.importer.Write(p) }

// Abort gives up: nothing is created and the staging is removed.
func (im *ImportSession) Abort() {
	im.once.Do(func() {
		im.importer.Abort()
		os.RemoveAll(im.dir)
		im.rt.boxes.release(im.name)
	})
}

// Close verifies the end of the archive and creates the box.
func (im *ImportSession) Close(ctx context.Context) (BoxInfo, error) {
	res, err := im.importer.Close()
	if err != nil {
		im.Abort()
		return BoxInfo{}, err
	}
	defer im.Abort() // staging and reservation go in every case
	return im.rt.commitImport(ctx, im.name, res)
}

// commitImport turns two verified staged images into frozen layers and a
// new box with empty overlays on them.
func (rt *Runtime) commitImport(ctx context.Context, name string, res *boxsnap.Result) (BoxInfo, error) {
	m := res.Manifest
	cfg := boxConfig{Image: m.Image, Settings: DefaultSettings(), Origin: &Origin{Kind: "import", Box: m.BoxName, Snapshot: m.Snapshot}}
	if len(m.Options) > 0 {
		if err := cfg.Settings.merge(m.Options); err != nil {
			return BoxInfo{}, fmt.Errorf("manifest options: %v: %w", err, errdefs.ErrCorrupt)
		}
	}
	staged := map[Disk]string{GuestDisk: res.GuestDisk, ContainerDisk: res.ContainerDisk}
	id := newID()
	layers := map[Disk]metadata.Layer{}
	p := plan{Created: []string{rt.lay.rel(rt.lay.box(id))}}
	for _, d := range AllDisks() {
		lid := newID()
		layers[d] = metadata.Layer{ID: lid, Format: string(qcow2.FormatQcow2), CreatedAt: time.Now()}
		p.Created = append(p.Created, rt.lay.rel(rt.lay.layer(lid)))
	}
	var info BoxInfo
	err := rt.mutate(ctx, "box.import", p, nil, func(m *mutation) error {
		if err := rt.makeBoxDir(id); err != nil {
			return err
		}
		for _, d := range AllDisks() {
			l := layers[d]
			size, _, err := diskShape(staged[d])
			if err != nil {
				return err
			}
			st, err := os.Stat(staged[d]) // boxsnap synced the staged files
			if err != nil {
				return err
			}
			if err := os.MkdirAll(rt.lay.layerDir(l.ID), 0o755); err != nil {
				return err
			}
			if err := os.Rename(staged[d], rt.lay.layer(l.ID)); err != nil {
				return err
			}
			if err := os.Chmod(rt.lay.layer(l.ID), 0o444); err != nil {
				return err
			}
			l.VirtualSize, l.FileSize = size, st.Size()
			layers[d] = l
			if err := rt.createOverlay(rt.lay.active(id, d), l.ID, size); err != nil {
				return err
			}
			m.step("disk " + string(d))
		}
		cfg.GuestDiskSize, cfg.ContainerDiskSize = layers[GuestDisk].VirtualSize, layers[ContainerDisk].VirtualSize
		return nil
	}, func(tx *metadata.Tx) (err error) {
		for _, d := range AllDisks() {
			if err := tx.InsertLayer(ctx, layers[d]); err != nil {
				return err
			}
		}
		info, err = rt.insertBox(ctx, tx, id, name, cfg,
			map[Disk]string{GuestDisk: layers[GuestDisk].ID, ContainerDisk: layers[ContainerDisk].ID})
		return err
	})
	if err != nil {
		return BoxInfo{}, err
	}
	rt.publish(BoxesChanged, id)
	return info, nil
}

// merge applies settings from an archive's manifest, each checked as if it
// were written to its settings file.
func (s *Settings) merge(raw json.RawMessage) error {
	var in Settings = DefaultSettings()
	if err := json.Unmarshal(raw, &in); err != nil {
		return err
	}
	out := *s
	for _, key := range SettingKeys() {
		v, err := in.Get(key)
		if err != nil {
			return err
		}
		if err := out.Set(key, v); err != nil {
			return err
		}
	}
	*s = out
	return nil
}

// imageVetter checks disk images inside archives with the qcow2 parser.
type imageVetter struct{}

// MaxFileSize bounds a standalone image's file size from its header: data
// clusters for the whole virtual size plus generous room for metadata.
func (imageVetter) MaxFileSize(head []byte) (int64, error) {
	h, err := qcow2.ParseHeader(head)
	if err != nil {
		return 0, err
	}
	if h.BackingFile != "" {
		return 0, fmt.Errorf("image has a backing file %q: %w", h.BackingFile, errdefs.ErrCorrupt)
	}
	cluster := int64(1) << h.ClusterBits
	clusters := (h.VirtualSize + cluster - 1) / cluster
	// Each data cluster costs at most one L2 entry (16 bytes with extended L2)
	// and one refcount entry (8 bytes at most); then tables, header, slack.
	return clusters*cluster + clusters*24 + 64*cluster + 16<<20, nil
}

// Verify checks the whole staged file: every table inside the file, no
// backing file, and refcounts that `qemu-img check` would find clean.
func (imageVetter) Verify(f *os.File, size int64) error {
	info, err := qcow2.Inspect(f, size)
	if err != nil {
		return err
	}
	if info.BackingFile != "" {
		return fmt.Errorf("image has a backing file %q: %w", info.BackingFile, errdefs.ErrCorrupt)
	}
	res, err := qcow2.Check(context.Background(), f.Name())
	if err != nil {
		return err
	}
	if res.Corruptions > 0 || res.Leaks > 0 {
		return fmt.Errorf("image %s: %d errors, %d leaked clusters: %w",
			filepath.Base(f.Name()), res.Corruptions, res.Leaks, errdefs.ErrCorrupt)
	}
	return nil
}

var _ boxsnap.ImageVetter = imageVetter{}
