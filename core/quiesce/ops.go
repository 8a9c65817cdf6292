package quiesce

import (
	"context"
	"fmt"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// thawAfterTimeout bounds the thaw a timed-out Freeze sends on its own.
const thawAfterTimeout = 5 * time.Second

// Ping asks the agent for its status; it answers once it serves requests.
func (c *Client) Ping(ctx context.Context) (Status, error) {
	r, err := c.call(ctx, Request{Op: OpPing})
	if err != nil {
		return Status{}, err
	}
	if r.Status == nil {
		return Status{}, fmt.Errorf("agent ping: answer without status: %w", errdefs.ErrCorrupt)
	}
	return *r.Status, nil
}

// Freeze freezes every data filesystem of the guest. It returns once all are
// frozen, so the disks hold a consistent state until Thaw. If ctx ends first
// the guest may still freeze later: Freeze then sends a thaw on its own (the
// agent runs them in order), and the agent thaws by itself after the hold
// time in any case.
func (c *Client) Freeze(ctx context.Context) error {
	_, err := c.call(ctx, Request{Op: OpFreeze, HoldMillis: c.hold.Milliseconds()})
	if err != nil && ctx.Err() != nil {
		go func() {
			tctx, cancel := context.WithTimeout(context.Background(), thawAfterTimeout)
			defer cancel()
			if terr := c.Thaw(tctx); terr != nil {
				c.log.Debug("thaw after abandoned freeze", "err", terr)
			}
		}()
	}
	return err
}

// Thaw thaws what Freeze froze; thawing a guest that is not frozen is fine.
func (c *Client) Thaw(ctx context.Context) error {
	_, err := c.call(ctx, Request{Op: OpThaw})
	return err
}

// Sync flushes the guest's dirty data to its disks.
func (c *Client) Sync(ctx context.Context) error {
	_, err := c.call(ctx, Request{Op: OpSync})
	return err
}

// Shutdown asks the guest to thaw, sync, unmount and power off. It returns
// when the agent has unmounted; the VM exits shortly after.
func (c *Client) Shutdown(ctx context.Context) error {
	_, err := c.call(ctx, Request{Op: OpShutdown})
	return err
}

// WriteFile replaces path on the guest's disk (as named in Status.Disks)
// with data and fsyncs it. Parent directories are created.
func (c *Client) WriteFile(ctx context.Context, disk, path string, data []byte) error {
	if len(data) > MaxFileData {
		return fmt.Errorf("agent write-file: %d bytes exceed %d: %w", len(data), MaxFileData, errdefs.ErrInvalid)
	}
	_, err := c.call(ctx, Request{Op: OpWriteFile, Disk: disk, Path: path, Data: data})
	return err
}

// ReadFile returns the content of path on the guest's disk.
func (c *Client) ReadFile(ctx context.Context, disk, path string) ([]byte, error) {
	r, err := c.call(ctx, Request{Op: OpReadFile, Disk: disk, Path: path})
	if err != nil {
		return nil, err
	}
	return r.Data, nil
}
