package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// cloneCmd makes a new box from a box or one of its snapshots, with the
// box's clone settings.
func cloneCmd() homeCommand {
	var from string
	return homeCommand{
		name: "clone", nargs: 2, usage: "clone [--home DIR] BOX NAME [--from-snapshot SNAPSHOT]",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&from, "from-snapshot", "", "clone this snapshot instead of the current state")
		},
		do: onBox(func(ctx context.Context, box *snapshot.Box, args []string) error {
			s, err := settings(ctx, box)
			if err != nil {
				return err
			}
			opts := s.Clone
			opts.FromSnapshot = from
			info, err := box.Clone(ctx, args[0], opts)
			if err != nil {
				return err
			}
			fmt.Printf("cloned box %s (%s)\n", info.Name, info.ID)
			return nil
		}),
	}
}
