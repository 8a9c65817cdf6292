package main

import (
	"context"

	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// restoreCmd brings a stopped box back to one of its snapshots.
func restoreCmd() homeCommand {
	return homeCommand{
		name: "restore", nargs: 2, usage: "restore [--home DIR] BOX SNAPSHOT",
		do: onBox(func(ctx context.Context, box *snapshot.Box, args []string) error {
			return box.Snapshots().Restore(ctx, args[0])
		}),
	}
}
