package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// fsckCmd checks the home and, with --repair, fixes what it can; it exits
// 1 when something is left unrepaired.
func fsckCmd() homeCommand {
	var repair bool
	return homeCommand{
		name: "fsck", nargs: 0, usage: "fsck [--home DIR] [--repair]",
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&repair, "repair", false, "repair what can be repaired without losing data")
		},
		do: func(ctx context.Context, rt *snapshot.Runtime, _ []string) error {
			report, err := rt.Fsck(ctx, repair)
			if err != nil {
				return err
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
			fmt.Printf("%d images checked, %d problems, %d recovered at open\n",
				report.Images, len(report.Problems), len(report.Recovered))
			if !report.Clean() {
				return errors.New("unclean: problems are left unrepaired")
			}
			fmt.Println("clean")
			return nil
		},
	}
}
