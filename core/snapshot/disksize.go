package snapshot

import (
	"context"
	"os"
	"sync"
	"time"
)

// DiskSize is the size of the box's disk file as a standalone image, for
// stat: what a view opened now would have. It never captures a running box
// (each capture adds layers): for one it is the size of the last view
// opened of that disk, or of the disk as it was before the box started.
func (b *Box) DiskSize(ctx context.Context, d Disk) (int64, error) {
	rt := b.rt
	if rt.boxes.vm(b.id) != nil {
		size, _ := rt.sizes.last(b.id, d)
		return size, nil
	}
	return rt.sizeOf(ctx, b, "", d)
}

// DiskSize is the size of one of the snapshot's disk files.
func (s *Snapshots) DiskSize(ctx context.Context, name string, d Disk) (int64, error) {
	return s.box.rt.sizeOf(ctx, s.box, name, d)
}

func (rt *Runtime) sizeOf(ctx context.Context, b *Box, snapshot string, d Disk) (int64, error) {
	src, err := b.source(ctx, snapshot, false)
	if err != nil {
		return 0, err
	}
	defer rt.release(src)
	key, ok := sizeKeyOf(src.top[d])
	if ok {
		if size, hit := rt.sizes.get(key); hit {
			return size, nil
		}
	}
	v, err := rt.viewOf(ctx, src, d)
	if err != nil {
		return 0, err
	}
	defer v.Close()
	return v.Size(), nil
}

// sizeCache remembers standalone sizes by the identity of the file at the
// top of the chain (frozen layers never change; an active file of a stopped
// box changes only with its modification time), and the last size seen of
// each box's disks.
type sizeCache struct {
	mu    sync.Mutex
	byTop map[sizeKey]int64
	byBox map[string]int64 // "boxID/disk"
}

type sizeKey struct {
	ino, size int64
	mtime     time.Time
}

func newSizeCache() *sizeCache {
	return &sizeCache{byTop: map[sizeKey]int64{}, byBox: map[string]int64{}}
}

func sizeKeyOf(path string) (sizeKey, bool) {
	st, err := os.Stat(path)
	if err != nil {
		return sizeKey{}, false
	}
	return sizeKey{ino: inode(st), size: st.Size(), mtime: st.ModTime()}, true
}

func (c *sizeCache) get(k sizeKey) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	size, ok := c.byTop[k]
	return size, ok
}

// rememberKey records a view's size under its top file's identity and, for
// a box's current state, as the box disk's last size.
func (c *sizeCache) rememberKey(k sizeKey, boxID, snapshot string, d Disk, size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.byTop) >= maxFresh {
		clear(c.byTop)
	}
	c.byTop[k] = size
	if snapshot == "" {
		c.byBox[boxID+"/"+string(d)] = size
	}
}

func (c *sizeCache) last(boxID string, d Disk) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	size, ok := c.byBox[boxID+"/"+string(d)]
	return size, ok
}
