package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"

	"golang.org/x/sys/unix"
)

// umountCmd detaches a mount; its daemon then closes the home and exits.
func umountCmd() command {
	const usage = "umount MOUNTPOINT"
	return command{usage: usage, run: func(ctx context.Context, args []string) int {
		pos, status, ok := parseArgs(newFlags("umount", usage), usage, args, 1)
		if !ok {
			return status
		}
		if err := unmount(ctx, pos[0]); err != nil {
			return fail("umount", err)
		}
		return 0
	}}
}

func unmount(ctx context.Context, dir string) error {
	err := unix.Unmount(dir, 0)
	if errors.Is(err, unix.EPERM) {
		// Not root: the setuid helper may unmount the user's own mount.
		if out, ferr := exec.CommandContext(ctx, "fusermount3", "-u", dir).CombinedOutput(); ferr != nil {
			err = fmt.Errorf("%w (fusermount3: %s)", err, out)
		} else {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	return nil
}
