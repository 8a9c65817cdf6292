// Package snapshot is the boxlitefs engine: a home of boxes with two qcow2
// disks each, snapshots as external copy-on-write layers, restore, clones,
// export and import (SPEC.md). The filesystem and the command are thin
// layers over this package.
package snapshot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/boxlite-ai/boxlitefs/metadata"
)

// Options tune a Runtime.
type Options struct {
	Logger *slog.Logger
	// Runner starts and stops boxes; nil means start/stop is unsupported.
	Runner Runner
	// FailPoint, for crash tests, is called at every step of every mutation
	// with "kind:step".
	FailPoint func(step string)
	// ManualCompaction: layers are merged only when Compact is called, not
	// in the background.
	ManualCompaction bool
}

// Runtime is an open home.
type Runtime struct {
	home      string
	lay       layout
	db        *metadata.DB
	log       *slog.Logger
	opts      Options
	owner     string     // this instance's id in journal rows
	locks     []*os.File // the home lock (shared) and this owner's lock
	layers    *layerSet
	boxes     *boxRegistry
	events    *broker
	targets   *targetSet
	sizes     *sizeCache
	compactor *compactor
	compactMu sync.Mutex

	recovered []Problem // what Open repaired

	closeOnce sync.Once
}

// Open opens the home at dir, creating it on first use, and recovers from
// any mutation a crashed process left unfinished.
func Open(ctx context.Context, dir string, opts Options) (*Runtime, error) {
	home, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	rt := &Runtime{
		home:      home,
		lay:       layout{home: home},
		log:       opts.Logger,
		opts:      opts,
		owner:     newID()[:16],
		layers:    newLayerSet(),
		boxes:     newBoxRegistry(),
		events:    newBroker(),
		targets:   newTargetSet(),
		sizes:     newSizeCache(),
		compactor: newCompactor(),
	}
	for _, d := range []string{filepath.Dir(rt.lay.db()), rt.lay.owners(), rt.lay.boxes(), rt.lay.bases(), rt.lay.tmp()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create home: %w", err)
		}
	}
	exclusive, err := rt.lockHome()
	if err != nil {
		return nil, err
	}
	rt.db, err = metadata.Open(ctx, rt.lay.db())
	if err != nil {
		rt.unlock()
		return nil, err
	}
	if rt.recovered, err = rt.recover(ctx, exclusive); err != nil {
		rt.Close()
		return nil, fmt.Errorf("recover: %w", err)
	}
	if exclusive {
		// Others may open the home now; they recover only what dead owners left.
		if err := unix.Flock(int(rt.locks[0].Fd()), unix.LOCK_SH); err != nil {
			rt.Close()
			return nil, err
		}
	}
	if !opts.ManualCompaction {
		rt.startCompactor()
		rt.kickCompactor() // what a previous process left mergeable
	}
	return rt, nil
}

// lockHome takes this owner's lock and the home lock, exclusively if no
// other process has the home open (then recovery may sweep orphans).
func (rt *Runtime) lockHome() (exclusive bool, err error) {
	home, err := os.OpenFile(rt.lay.homeLock(), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return false, err
	}
	exclusive = unix.Flock(int(home.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil
	if !exclusive {
		if err := unix.Flock(int(home.Fd()), unix.LOCK_SH); err != nil {
			home.Close()
			return false, err
		}
	}
	mine, err := os.OpenFile(filepath.Join(rt.lay.owners(), rt.owner+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		home.Close()
		return false, err
	}
	if err := unix.Flock(int(mine.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		home.Close()
		mine.Close()
		return false, err
	}
	rt.locks = []*os.File{home, mine}
	return exclusive, nil
}

func (rt *Runtime) unlock() {
	for i := len(rt.locks) - 1; i >= 0; i-- {
		f := rt.locks[i]
		if i == 1 {
			os.Remove(f.Name())
		}
		f.Close()
	}
	rt.locks = nil
}

// Close stops running boxes and releases the home.
func (rt *Runtime) Close() error {
	var errs []error
	rt.closeOnce.Do(func() {
		errs = append(errs, rt.stopAll(context.Background()))
		rt.stopCompactor()
		rt.events.close()
		if rt.db != nil {
			errs = append(errs, rt.db.Close())
		}
		rt.unlock()
	})
	return errors.Join(errs...)
}

// Home is the home's absolute path.
func (rt *Runtime) Home() string { return rt.home }
