// Command boxlitefs mounts a BoxLite box store as a filesystem and manages
// it from the shell (SPEC 2). Run `boxlitefs help` for the subcommands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// run dispatches a subcommand and returns the exit code.
func run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		usage(os.Stderr)
		return 2
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "boxlitefs: unknown command %q\n\n", args[0])
		usage(os.Stderr)
		return 2
	}
	return cmd.run(ctx, args[1:])
}
