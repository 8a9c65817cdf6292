package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string) int
}

func commands() map[string]command {
	return map[string]command{
		"mount":    {"mount [--home DIR] [-f] [-o allow_other] [--demo] MOUNTPOINT", mountCmd},
		"umount":   {"umount MOUNTPOINT", umountCmd},
		"create":   createCmd().command(),
		"fsck":     fsckCmd().command(),
		"ls":       lsCmd().command(),
		"snapshot": snapshotCmd().command(),
		"restore":  restoreCmd().command(),
		"export":   exportCmd().command(),
		"import":   importCmd().command(),
		"clone":    cloneCmd().command(),
		"help":     {"help", func(context.Context, []string) int { usage(os.Stdout); return 0 }},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: boxlitefs COMMAND [ARGS]")
	fmt.Fprintln(w, "")
	var lines []string
	for _, c := range commands() {
		lines = append(lines, "  boxlitefs "+c.summary)
	}
	sort.Strings(lines)
	fmt.Fprintln(w, strings.Join(lines, "\n"))
	fmt.Fprintln(w, "\nThe home is --home DIR, else $BOXLITE_HOME, else ~/.boxlite.")
}

// common are the flags every command that opens a home takes.
type common struct {
	home    string
	verbose bool
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.home, "home", "", "the home (default $BOXLITE_HOME, else ~/.boxlite)")
	fs.BoolVar(&c.verbose, "v", false, "log debug messages")
}

// homeDir resolves the home: --home, else $BOXLITE_HOME, else ~/.boxlite.
func (c *common) homeDir() (string, error) {
	if c.home != "" {
		return c.home, nil
	}
	if h := os.Getenv("BOXLITE_HOME"); h != "" {
		return h, nil
	}
	user, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no --home, no $BOXLITE_HOME, and no home directory: %w", err)
	}
	return filepath.Join(user, ".boxlite"), nil
}

func (c *common) logger() *slog.Logger {
	level := slog.LevelInfo
	if c.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// open opens the home.
func (c *common) open(ctx context.Context, logger *slog.Logger) (*snapshot.Runtime, error) {
	home, err := c.homeDir()
	if err != nil {
		return nil, err
	}
	return snapshot.Open(ctx, home, snapshot.Options{Logger: logger})
}

// parse parses flags that may come before, between or after positional
// arguments (`mount DIR -f` as well as `mount -f DIR`) and returns the
// positional ones.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// fail prints err for the command and gives its exit code.
func fail(cmd string, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 2
	}
	fmt.Fprintf(os.Stderr, "boxlitefs %s: %v\n", cmd, err)
	return 1
}

// newFlags makes a command's flag set that reports errors instead of exiting.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("boxlitefs "+name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	return fs
}
