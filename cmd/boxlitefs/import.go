package main

import (
	"context"
	"fmt"
	"os"

	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// importCmd creates a box from a .boxsnap file ("-" reads standard input).
func importCmd() homeCommand {
	return homeCommand{
		name: "import", nargs: 2, usage: "import [--home DIR] FILE NAME",
		do: func(ctx context.Context, rt *snapshot.Runtime, args []string) error {
			in := os.Stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			info, err := rt.Import(ctx, in, args[1], snapshot.ImportOptions{})
			if err != nil {
				return err
			}
			fmt.Printf("imported box %s (%s)\n", info.Name, info.ID)
			return nil
		},
	}
}
