package snapshot

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/metadata"
)

// Box is a handle on one box. It names the box by id, so it stays valid
// across renames; every call reads the current state.
type Box struct {
	rt *Runtime
	id string
}

// boxConfig is box_config.json.
type boxConfig struct {
	Image             string   `json:"image"`
	Settings          Settings `json:"settings"`
	Origin            *Origin  `json:"origin,omitempty"`
	GuestDiskSize     int64    `json:"guest_disk_size"`
	ContainerDiskSize int64    `json:"container_disk_size"`
}

func parseConfig(b metadata.Box) (boxConfig, error) {
	cfg := boxConfig{Settings: DefaultSettings()}
	if err := json.Unmarshal(b.Config, &cfg); err != nil {
		return boxConfig{}, fmt.Errorf("box %s: config: %w", b.Name, err)
	}
	return cfg, nil
}

func (c boxConfig) diskSize(d Disk) int64 {
	if d == GuestDisk {
		return c.GuestDiskSize
	}
	return c.ContainerDiskSize
}

func (c *boxConfig) setDiskSize(d Disk, size int64) {
	if d == GuestDisk {
		c.GuestDiskSize = size
	} else {
		c.ContainerDiskSize = size
	}
}

func marshalConfig(cfg boxConfig) ([]byte, error) { return json.Marshal(cfg) }

// ID is the box's stable identifier.
func (b *Box) ID() string { return b.id }

func (b *Box) row(ctx context.Context) (metadata.Box, boxConfig, error) {
	var row metadata.Box
	err := b.rt.db.View(ctx, func(tx *metadata.Tx) error {
		var err error
		row, err = tx.BoxByID(ctx, b.id)
		return err
	})
	if err != nil {
		return row, boxConfig{}, err
	}
	cfg, err := parseConfig(row)
	return row, cfg, err
}

// Info describes the box (box.json).
func (b *Box) Info(ctx context.Context) (BoxInfo, error) {
	row, cfg, err := b.row(ctx)
	if err != nil {
		return BoxInfo{}, err
	}
	return b.rt.info(row, cfg), nil
}

func (rt *Runtime) info(row metadata.Box, cfg boxConfig) BoxInfo {
	status := State(row.Status)
	if status == Stopped && rt.boxes.exporting(row.ID) {
		status = Exporting
	}
	return BoxInfo{
		ID: row.ID, Name: row.Name, Image: cfg.Image, Status: status, CreatedAt: row.CreatedAt,
		GuestDiskSize: cfg.GuestDiskSize, ContainerDiskSize: cfg.ContainerDiskSize, Origin: cfg.Origin,
	}
}

// State is the box's current state.
func (b *Box) State(ctx context.Context) (State, error) {
	info, err := b.Info(ctx)
	return info.Status, err
}

// Settings returns the box's persisted options.
func (b *Box) Settings(ctx context.Context) (Settings, error) {
	_, cfg, err := b.row(ctx)
	return cfg.Settings, err
}

// SetSetting parses and persists one option; a bad value is ErrInvalid and
// changes nothing.
func (b *Box) SetSetting(ctx context.Context, key, value string) error {
	err := b.rt.db.Update(ctx, func(tx *metadata.Tx) error {
		return b.rt.updateConfig(ctx, tx, b.id, func(cfg *boxConfig) error {
			return cfg.Settings.Set(key, value)
		})
	})
	if err == nil {
		b.rt.publish(BoxChanged, b.id)
	}
	return err
}

// Snapshots is the box's snapshot manager.
func (b *Box) Snapshots() *Snapshots { return &Snapshots{box: b} }

// requireStatus fails with ErrBusy unless the box is in one of states.
func (b *Box) requireStatus(ctx context.Context, states ...State) (BoxInfo, error) {
	info, err := b.Info(ctx)
	if err != nil {
		return info, err
	}
	for _, s := range states {
		if info.Status == s || (s == Stopped && info.Status == Exporting) {
			return info, nil
		}
	}
	return info, fmt.Errorf("box %s is %s: %w", info.Name, info.Status, errdefs.ErrBusy)
}
