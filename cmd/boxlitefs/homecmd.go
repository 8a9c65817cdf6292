package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// homeCommand is a command that works on a home: it parses its flags (with
// --home and -v), wants exactly nargs positional arguments, opens the home
// and runs do with them.
type homeCommand struct {
	name  string
	nargs int
	usage string
	flags func(fs *flag.FlagSet)
	do    func(ctx context.Context, rt *snapshot.Runtime, args []string) error
}

// command makes it an entry of the command table.
func (c homeCommand) command() command { return command{usage: c.usage, run: c.run} }

func (c homeCommand) run(ctx context.Context, args []string) int {
	var home homeFlags
	fs := newFlags(c.name, c.usage)
	home.register(fs)
	if c.flags != nil {
		c.flags(fs)
	}
	pos, status, ok := parseArgs(fs, c.usage, args, c.nargs)
	if !ok {
		return status
	}
	rt, err := home.open(ctx, snapshot.Options{Logger: home.logger()})
	if err != nil {
		return fail(c.name, err)
	}
	defer rt.Close()
	if err := c.do(ctx, rt, pos); err != nil {
		return fail(c.name, err)
	}
	return 0
}

// homeFlags are the flags of every command that opens a home.
type homeFlags struct {
	home    string
	verbose bool
}

func (h *homeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&h.home, "home", "", "the home (default $BOXLITE_HOME, else ~/.boxlite)")
	fs.BoolVar(&h.verbose, "v", false, "log debug messages")
}

// dir resolves the home: --home, else $BOXLITE_HOME, else ~/.boxlite.
func (h *homeFlags) dir() (string, error) {
	if h.home != "" {
		return h.home, nil
	}
	if env := os.Getenv("BOXLITE_HOME"); env != "" {
		return env, nil
	}
	user, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no --home, no $BOXLITE_HOME, and no home directory: %w", err)
	}
	return filepath.Join(user, ".boxlite"), nil
}

func (h *homeFlags) logger() *slog.Logger {
	level := slog.LevelInfo
	if h.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// open opens the home.
func (h *homeFlags) open(ctx context.Context, opts snapshot.Options) (*snapshot.Runtime, error) {
	dir, err := h.dir()
	if err != nil {
		return nil, err
	}
	return snapshot.Open(ctx, dir, opts)
}

// onBox adapts an operation on one box: the first argument names it.
func onBox(do func(ctx context.Context, box *snapshot.Box, args []string) error) func(context.Context, *snapshot.Runtime, []string) error {
	return func(ctx context.Context, rt *snapshot.Runtime, args []string) error {
		box, err := rt.Box(ctx, args[0])
		if err != nil {
			return err
		}
		return do(ctx, box, args[1:])
	}
}

// settings are the box's persisted options, the defaults of its commands.
func settings(ctx context.Context, box *snapshot.Box) (snapshot.Settings, error) {
	s, err := box.Settings(ctx)
	if err != nil {
		return s, fmt.Errorf("settings: %w", err)
	}
	return s, nil
}
