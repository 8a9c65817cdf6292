package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"
	"time"
)

// lsCmd lists the home's boxes.
func lsCmd(ctx context.Context, args []string) int {
	var c common
	fs := newFlags("ls")
	c.register(fs)
	if _, err := parse(fs, args); err != nil {
		return fail("ls", err)
	}
	rt, err := c.open(ctx, c.logger())
	if err != nil {
		return fail("ls", err)
	}
	defer rt.Close()
	boxes, err := rt.ListBoxes(ctx)
	if err != nil {
		return fail("ls", err)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tSTATUS\tCREATED\tID")
	for _, b := range boxes {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", b.Name, b.Status, b.CreatedAt.Format(time.RFC3339), b.ID)
	}
	if err := w.Flush(); err != nil {
		return fail("ls", err)
	}
	return 0
}
