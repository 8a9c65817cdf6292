package main

import (
	"context"
	"fmt"
)

// fsckCmd checks the home and, with --repair, fixes what it can; it exits
// 1 when something is left unrepaired.
func fsckCmd(ctx context.Context, args []string) int {
	var c common
	var repair bool
	fs := newFlags("fsck")
	c.register(fs)
	fs.BoolVar(&repair, "repair", false, "repair what can be repaired without losing data")
	if _, err := parse(fs, args); err != nil {
		return fail("fsck", err)
	}
	rt, err := c.open(ctx, c.logger())
	if err != nil {
		return fail("fsck", err)
	}
	defer rt.Close()
	report, err := rt.Fsck(ctx, repair)
	if err != nil {
		return fail("fsck", err)
	}
	for _, p := range report.Recovered {
		fmt.Printf("recovered: %s: %s\n", p.Path, p.What)
	}
	for _, p := range report.Problems {
		verdict := "problem"
		if p.Repaired {
			verdict = "repaired"
		}
		fmt.Printf("%s: %s: %s\n", verdict, p.Path, p.What)
	}
	fmt.Printf("%d images checked, %d problems, %d recovered at open\n", report.Images, len(report.Problems), len(report.Recovered))
	if !report.Clean() {
		fmt.Println("unclean")
		return 1
	}
	fmt.Println("clean")
	return 0
}
