package main

import (
	"context"
	"fmt"

	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// snapshotCmd takes a snapshot with the box's snapshot settings.
func snapshotCmd() homeCommand {
	return homeCommand{
		name: "snapshot", nargs: 2, usage: "snapshot [--home DIR] BOX NAME",
		do: onBox(func(ctx context.Context, box *snapshot.Box, args []string) error {
			s, err := settings(ctx, box)
			if err != nil {
				return err
			}
			info, err := box.Snapshots().Create(ctx, args[0], s.Snapshot)
			if err != nil {
				return err
			}
			fmt.Printf("snapshot %s (%s, %s)\n", info.Name, info.ID, info.Consistency)
			return nil
		}),
	}
}
