package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/boxlite-ai/boxlitefs/core/snapshot"
	"github.com/boxlite-ai/boxlitefs/fs/nodes"
)

// mountFlags are mount's options.
type mountFlags struct {
	homeFlags
	foreground bool
	options    string
	demo       bool
	logFile    string
	debug      bool
	guest      string
}

// mountCmd mounts a home. In the background (the default) it returns once
// the mount is ready; with -f it serves until SIGINT/SIGTERM or umount.
func mountCmd() command {
	const usage = "mount [--home DIR] [-f] [-o allow_other] [--demo] MOUNTPOINT"
	return command{usage: usage, run: func(ctx context.Context, args []string) int {
		var f mountFlags
		fs := newFlags("mount", usage)
		f.register(fs)
		fs.BoolVar(&f.foreground, "f", false, "stay in the foreground")
		fs.StringVar(&f.options, "o", "", "mount options: allow_other")
		fs.BoolVar(&f.demo, "demo", false, "if the home has no boxes, make a small demo box")
		fs.StringVar(&f.logFile, "log", "", "in the background, append the daemon's log to this file")
		fs.BoolVar(&f.debug, "debug", false, "log every FUSE request")
		fs.StringVar(&f.guest, "guest", "", "the guest kernel and initramfs that boxes boot (default $"+guestDirEnv+", else guest/ beside this program)")
		pos, status, ok := parseArgs(fs, usage, args, 1)
		if !ok {
			return status
		}
		allowOther, err := parseMountOptions(f.options)
		if err != nil {
			return fail("mount", err)
		}
		if !f.foreground {
			if err := daemonize(ctx, args, f.logFile); err != nil {
				return fail("mount", err)
			}
			return 0
		}
		return serve(ctx, &f, pos[0], allowOther)
	}}
}

// parseMountOptions reads -o; allow_other is the only option.
func parseMountOptions(o string) (allowOther bool, err error) {
	for _, opt := range strings.Split(o, ",") {
		switch opt {
		case "":
		case "allow_other":
			allowOther = true
		default:
			return false, fmt.Errorf("unknown mount option %q (only allow_other)", opt)
		}
	}
	return allowOther, nil
}

// serve mounts in this process and serves until a signal or an unmount.
func serve(ctx context.Context, f *mountFlags, dir string, allowOther bool) int {
	logger := f.logger()
	ready := readiness()
	vms, run := newRunner(guestDir(f.guest), logger)
	if vms != nil {
		defer vms.Close()
	}
	rt, err := f.open(ctx, snapshot.Options{Logger: logger, Runner: run})
	if err != nil {
		return ready.fail("mount", err)
	}
	defer rt.Close()
	if f.demo {
		if err := ensureDemo(ctx, rt); err != nil {
			return ready.fail("mount", fmt.Errorf("demo box: %w", err))
		}
	}
	m, err := nodes.New(ctx, rt, dir, nodes.Options{AllowOther: allowOther, Logger: logger, Debug: f.debug})
	if err != nil {
		return ready.fail("mount", err)
	}
	logger.Info("mounted", "home", rt.Home(), "mountpoint", dir)
	ready.ok()
	unmounted := make(chan struct{})
	go func() {
		m.Wait()
		close(unmounted)
	}()
	select {
	case <-ctx.Done():
		if err := m.Unmount(); err != nil {
			logger.Error("unmount", "mountpoint", dir, "err", err)
			return 1
		}
	case <-unmounted:
	}
	logger.Info("unmounted", "mountpoint", dir)
	return 0
}

// ensureDemo makes a small demo box when the home has none.
func ensureDemo(ctx context.Context, rt *snapshot.Runtime) error {
	boxes, err := rt.ListBoxes(ctx)
	if err != nil || len(boxes) > 0 {
		return err
	}
	dir, err := os.MkdirTemp("", "boxlitefs-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	files := map[string]string{
		"README.txt":       "A demo box made by boxlitefs mount --demo.\n",
		"hello.sh":         "#!/bin/sh\necho hello from a box\n",
		"etc/motd":         "Welcome to the demo box.\n",
		"data/numbers.txt": "1\n2\n3\n5\n8\n13\n",
	}
	for name, body := range files {
		path := dir + "/" + name
		if err := os.MkdirAll(path[:strings.LastIndex(path, "/")], 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			return err
		}
	}
	_, err = rt.CreateBox(ctx, "demo", snapshot.CreateOptions{FromDir: dir, DiskSize: 64 << 20, Image: "demo"})
	return err
}
