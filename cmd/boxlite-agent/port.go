package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// openPort waits for the virtio-serial port called name (the host names it
// shortly after the device appears) and opens it for blocking I/O.
func openPort(ctx context.Context, name string) (*os.File, error) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if dev := findPort(name); dev != "" {
			// A blocking descriptor keeps os.File off the poller: a port's
			// poll reports hang-up while the host is away, which is not an
			// event to wait on.
			fd, err := unix.Open(dev, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
			if err != nil {
				return nil, fmt.Errorf("open %s: %w", dev, err)
			}
			return os.NewFile(uintptr(fd), dev), nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no virtio-serial port named %s: %w", name, ctx.Err())
		case <-tick.C:
		}
	}
}

func findPort(name string) string {
	names, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err == nil && strings.TrimSpace(string(b)) == name {
			return "/dev/" + filepath.Base(filepath.Dir(n))
		}
	}
	return ""
}
