package snapshot

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/boxsnap"
)

// Export streams the box's current state as a .boxsnap archive (SPEC 2.3).
// It reads a point-in-time view: a snapshot, restore or remove meanwhile does
// not change what is streamed, and does not wait for it.
func (b *Box) Export(ctx context.Context, w io.Writer, opts ExportOptions) error {
	return b.export(ctx, "", w, opts)
}

// Export streams one snapshot as a .boxsnap archive.
func (s *Snapshots) Export(ctx context.Context, name string, w io.Writer, opts ExportOptions) error {
	return s.box.export(ctx, name, w, opts)
}

func (b *Box) export(ctx context.Context, snapshot string, w io.Writer, opts ExportOptions) error {
	rt := b.rt
	src, err := b.source(ctx, snapshot, false)
	if err != nil {
		return err
	}
	defer rt.release(src)
	views := map[Disk]*DiskView{}
	for _, d := range AllDisks() {
		v, err := rt.viewOf(ctx, src, d)
		if err != nil {
			return err
		}
		defer v.Close()
		views[d] = v
	}
	rt.boxes.addExport(b.id, 1)
	rt.publish(BoxChanged, b.id)
	defer func() {
		rt.boxes.addExport(b.id, -1)
		rt.publish(BoxChanged, b.id)
	}()

	m := boxsnap.Manifest{
		BoxName: src.box.Name, Image: src.config.Image, Snapshot: snapshot, ExportedAt: time.Now().UTC(),
		GuestDiskSize: src.sizes[GuestDisk], ContainerDiskSize: src.sizes[ContainerDisk],
	}
	if opts.IncludeMetadata {
		if m.Options, err = json.Marshal(src.config.Settings); err != nil {
			return err
		}
	}
	disk := func(d Disk) boxsnap.Disk {
		return boxsnap.Disk{Size: views[d].Size(), WriteTo: views[d].WriteTo}
	}
	return boxsnap.Write(ctx, w, m, disk(GuestDisk), disk(ContainerDisk), boxsnap.WriteOptions{
		Compress: opts.Compress,
		Level:    opts.CompressionLevel,
		// The state's creation time: equal states give equal archives.
		ModTime:  src.box.CreatedAt,
		Progress: opts.Progress,
	})
}
