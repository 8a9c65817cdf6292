package snapshot

import (
	"context"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// WatchHome publishes a Refresh event when another process changes the home
// (for example `boxlitefs create` while the home is mounted): it watches the
// database's write-ahead log and the boxes/ directory, and coalesces bursts
// so that subscribers hear at most one event per interval. It returns when
// ctx is done.
func (rt *Runtime) WatchHome(ctx context.Context, interval time.Duration) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	for _, dir := range []string{filepath.Dir(rt.lay.db()), rt.lay.boxes()} {
		if err := w.Add(dir); err != nil {
			return err
		}
	}
	var pending <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Remove|fsnotify.Rename) != 0 && pending == nil {
				pending = time.After(interval)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			rt.log.Warn("watching the home", "err", err)
		case <-pending:
			pending = nil
			rt.publish(Refresh, "")
		}
	}
}
