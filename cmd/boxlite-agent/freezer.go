package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// FIFREEZE and FITHAW from linux/fs.h: _IOWR('X', 119, int) and _IOWR('X', 120, int).
const (
	ioctlFreeze = 0xC0045877
	ioctlThaw   = 0xC0045878
)

// freezer freezes and thaws the guest's data filesystems. It remembers what
// it froze, so freeze and thaw are idempotent, and it thaws by itself when a
// freeze outlives its hold time.
type freezer struct {
	log    *slog.Logger
	mounts []string

	mu     sync.Mutex
	frozen []string    // mounts frozen, in freeze order
	timer  *time.Timer // the hold limit of the current freeze
	epoch  uint64      // bumped on every freeze and thaw; an older timer is void
}

func newFreezer(mounts []string, log *slog.Logger) *freezer {
	return &freezer{log: log, mounts: mounts}
}

// Freeze freezes every mount (flushing it first, as FIFREEZE does) and arms
// the automatic thaw. Freezing again only re-arms it.
func (f *freezer) Freeze(hold time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.frozen) == 0 {
		for _, m := range f.mounts {
			if err := fsIoctl(m, ioctlFreeze); err != nil {
				if terr := f.thawLocked(); terr != nil {
					f.log.Error("thaw after failed freeze", "err", terr)
				}
				return fmt.Errorf("freeze %s: %w", m, err)
			}
			f.frozen = append(f.frozen, m)
		}
	}
	f.epoch++
	epoch := f.epoch
	if f.timer != nil {
		f.timer.Stop()
	}
	f.timer = time.AfterFunc(hold, func() { f.expire(epoch, hold) })
	return nil
}

// Thaw thaws whatever is frozen; why is logged.
func (f *freezer) Thaw(why string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.frozen) > 0 {
		f.log.Info("thaw", "why", why)
	}
	return f.thawLocked()
}

// Frozen reports whether a freeze is in effect.
func (f *freezer) Frozen() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.frozen) > 0
}

func (f *freezer) expire(epoch uint64, hold time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if epoch != f.epoch || len(f.frozen) == 0 {
		return
	}
	f.log.Warn("freeze outlived its hold time; thawing", "hold", hold)
	if err := f.thawLocked(); err != nil {
		f.log.Error("thaw", "err", err)
	}
}

func (f *freezer) thawLocked() error {
	f.epoch++
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	var errs []error
	for _, m := range slices.Backward(f.frozen) {
		// EINVAL: not frozen (someone else thawed it), which is the goal.
		if err := fsIoctl(m, ioctlThaw); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("thaw %s: %w", m, err))
		}
	}
	f.frozen = nil
	return errors.Join(errs...)
}

func fsIoctl(mount string, req uint) error {
	d, err := os.Open(mount)
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.IoctlSetInt(int(d.Fd()), req, 0)
}
