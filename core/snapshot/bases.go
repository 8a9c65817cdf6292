package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/core/qcow2"
	"github.com/boxlite-ai/boxlitefs/metadata"
)

// baseImage returns the shared base layer of a kind and size, making it on
// first use: an empty ext4 filesystem, converted in-process to qcow2.
func (rt *Runtime) baseImage(ctx context.Context, kind string, size int64) (string, error) {
	lookup := func() (string, error) {
		var id string
		err := rt.db.View(ctx, func(tx *metadata.Tx) error {
			var err error
			id, err = tx.BaseImage(ctx, kind, size)
			return err
		})
		return id, err
	}
	if id, err := lookup(); err != nil || id != "" {
		return id, err
	}
	id := newID()
	path := rt.lay.layer(id)
	raw := filepath.Join(rt.lay.tmp(), "base-"+id+".raw")
	p := plan{Created: []string{rt.lay.rel(path), rt.lay.rel(raw)}}
	err := rt.mutate(ctx, "base.create", p, nil, func(m *mutation) error {
		if err := makeExt4(ctx, raw, size, kind, ""); err != nil {
			return err
		}
		if err := os.MkdirAll(rt.lay.layerDir(id), 0o755); err != nil {
			return err
		}
		if err := rt.convertRaw(ctx, raw, path); err != nil {
			return err
		}
		return os.Remove(raw)
	}, func(tx *metadata.Tx) error {
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		if err := tx.InsertLayer(ctx, metadata.Layer{
			ID: id, Format: string(qcow2.FormatQcow2), VirtualSize: size, FileSize: st.Size(), CreatedAt: time.Now(),
		}); err != nil {
			return err
		}
		return tx.SetBaseImage(ctx, kind, size, id)
	})
	if errors.Is(err, errdefs.ErrExists) {
		return lookup() // another process made it meanwhile
	}
	if err != nil {
		return "", fmt.Errorf("base image %s: %w", kind, err)
	}
	if err := os.Chmod(path, 0o444); err != nil {
		return "", err
	}
	return id, nil
}

// makeExt4 writes a sparse raw file holding an ext4 filesystem, filled from
// dir when dir is not empty.
func makeExt4(ctx context.Context, raw string, size int64, label, dir string) error {
	f, err := os.OpenFile(raw, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	args := []string{"-q", "-F", "-t", "ext4", "-L", label,
		"-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard,root_owner=0:0"}
	if dir != "" {
		args = append(args, "-d", dir)
	}
	args = append(args, raw, strconv.FormatInt(size/1024, 10)+"k")
	cmd := exec.CommandContext(ctx, "mkfs.ext4", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("mkfs.ext4: %v: %s", err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// convertRaw writes a standalone qcow2 at dst holding the raw file's content
// (holes stay unallocated), in-process.
func (rt *Runtime) convertRaw(ctx context.Context, raw, dst string) error {
	src, err := qcow2.Open(raw, qcow2.OpenOptions{Format: qcow2.FormatRaw})
	if err != nil {
		return err
	}
	defer src.Close()
	return qcow2.WriteFile(ctx, dst, src, qcow2.FlattenOptions{})
}
