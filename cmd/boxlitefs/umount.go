package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"

	"golang.org/x/sys/unix"
)

// umountCmd detaches a mount; its daemon then closes the home and exits.
func umountCmd(ctx context.Context, args []string) int {
	fs := newFlags("umount")
	pos, err := parse(fs, args)
	if err != nil {
		return fail("umount", err)
	}
	if len(pos) != 1 {
		return fail("umount", errors.New("give one MOUNTPOINT"))
	}
	dir := pos[0]
	err = unix.Unmount(dir, 0)
	if errors.Is(err, unix.EPERM) {
		// Not root: the setuid helper may unmount the user's own mount.
		if out, ferr := exec.CommandContext(ctx, "fusermount3", "-u", dir).CombinedOutput(); ferr != nil {
			err = fmt.Errorf("%w (fusermount3: %s)", err, out)
		} else {
			err = nil
		}
	}
	if err != nil {
		return fail("umount", fmt.Errorf("%s: %w", dir, err))
	}
	return 0
}
