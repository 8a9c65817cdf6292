package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/core/quiesce"
)

// diskRoot opens the mount of the named disk as an os.Root, so that no path
// or symlink inside the box's filesystem reaches outside it.
func (s *server) diskRoot(disk, path string) (*os.Root, error) {
	if !filepath.IsLocal(path) {
		return nil, fmt.Errorf("path %q is not a local path: %w", path, errdefs.ErrInvalid)
	}
	for _, d := range s.disks {
		if d.Name == disk {
			return os.OpenRoot(d.Mount)
		}
	}
	return nil, fmt.Errorf("no mounted disk %q: %w", disk, errdefs.ErrNotFound)
}

// writeFile replaces path with data and fsyncs it, creating parents.
func (s *server) writeFile(disk, path string, data []byte) error {
	if len(data) > quiesce.MaxFileData {
		return fmt.Errorf("%d bytes exceed %d: %w", len(data), quiesce.MaxFileData, errdefs.ErrInvalid)
	}
	root, err := s.diskRoot(disk, path)
	if err != nil {
		return err
	}
	defer root.Close()
	if dir := filepath.Dir(path); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return classify(err)
		}
	}
	f, err := root.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return classify(err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return classify(err)
}

// readFile returns path's content, refusing files larger than MaxFileData.
func (s *server) readFile(disk, path string) ([]byte, error) {
	root, err := s.diskRoot(disk, path)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(path)
	if err != nil {
		return nil, classify(err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, quiesce.MaxFileData+1))
	if err != nil {
		return nil, classify(err)
	}
	if len(data) > quiesce.MaxFileData {
		return nil, fmt.Errorf("file larger than %d bytes: %w", quiesce.MaxFileData, errdefs.ErrInvalid)
	}
	return data, nil
}

// classify gives file errors the errdefs class the host can act on.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %w", err, errdefs.ErrNotFound)
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%w: %w", err, errdefs.ErrExists)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: %w", err, errdefs.ErrReadOnly)
	default:
		return err
	}
}
