package nodes

import (
	"context"
	"slices"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// settingsDir is boxes/NAME/settings/: one control file per option (SPEC
// 2.5). Reading gives the value and a newline; writing sets it, and a bad
// value is EINVAL from the write.
type settingsDir struct {
	fixedDir
	boxID string
	time  time.Time
	tree  tree
}

var (
	_ node             = (*settingsDir)(nil)
	_ fs.NodeLookuper  = (*settingsDir)(nil)
	_ fs.NodeReaddirer = (*settingsDir)(nil)
)

func (d *settingsDir) key() string           { return boxKey(d.boxID) + "/settings" }
func (d *settingsDir) stable() fs.StableAttr { return dirStable(d.tree.dirIno(d.key())) }

// Getattr describes the directory.
func (d *settingsDir) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	return dirAttrs(out, d.tree.dirIno(d.key()), d.time)
}

// Readdir lists every setting.
func (d *settingsDir) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	var entries []fuse.DirEntry
	for _, k := range snapshot.SettingKeys() {
		entries = append(entries, fuse.DirEntry{Name: k, Mode: syscall.S_IFREG})
	}
	return listing(withInos(entries, d.key())), 0
}

// Lookup makes the control file of one setting.
func (d *settingsDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n := d.entry(name)
	if n == nil {
		return nil, syscall.ENOENT
	}
	return fixedChild(ctx, d.EmbeddedInode(), n, out)
}

// entry is the control file of setting name, nil if there is none.
func (d *settingsDir) entry(name string) node {
	if !slices.Contains(snapshot.SettingKeys(), name) {
		return nil
	}
	return &ctlFile{
		genFile: genFile{env: d.env, ino: inoOf(d.key() + "/" + name), time: d.time,
			content: func(ctx context.Context) ([]byte, error) { return d.value(ctx, name) }},
		apply: func(ctx context.Context, value string) error {
			box, err := d.env.box(ctx, d.boxID)
			if err != nil {
				return err
			}
			return box.SetSetting(ctx, name, value)
		},
	}
}

func (d *settingsDir) value(ctx context.Context, key string) ([]byte, error) {
	s, err := d.env.facts.settings(ctx, d.boxID)
	if err != nil {
		return nil, err
	}
	v, err := s.Get(key)
	return []byte(v + "\n"), err
}
