package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// lsCmd lists the home's boxes.
func lsCmd() homeCommand {
	return homeCommand{
		name: "ls", nargs: 0, usage: "ls [--home DIR]",
		do: func(ctx context.Context, rt *snapshot.Runtime, _ []string) error {
			boxes, err := rt.ListBoxes(ctx)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tSTATUS\tCREATED\tID")
			for _, b := range boxes {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", b.Name, b.Status, b.CreatedAt.Format(time.RFC3339), b.ID)
			}
			return w.Flush()
		},
	}
}
