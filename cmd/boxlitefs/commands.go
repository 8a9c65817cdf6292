package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one subcommand of the table: its usage line (what `help`
// lists) and what runs it, giving the exit status.
type command struct {
	usage string
	run   func(ctx context.Context, args []string) int
}

func commands() map[string]command {
	return map[string]command{
		"mount":    mountCmd(),
		"umount":   umountCmd(),
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
		lines = append(lines, "  boxlitefs "+c.usage)
	}
	sort.Strings(lines)
	fmt.Fprintln(w, strings.Join(lines, "\n"))
	fmt.Fprintln(w, "\nThe home is --home DIR, else $BOXLITE_HOME, else ~/.boxlite.")
}

// Exit statuses: a refused or failed command, and a command line that is
// not one (unknown command or flag, wrong number of arguments).
const (
	exitFailed = 1
	exitUsage  = 2
)

// newFlags makes the flag set of a command; -h and a bad flag print its
// usage line and its flags.
func newFlags(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet("boxlitefs "+name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: boxlitefs "+usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses a command's flags, which may come before, between or
// after its positional arguments, and wants nargs of those. When the
// command line is not one, it has said why and ok is false, with the exit
// status: 0 for -h, exitUsage otherwise.
func parseArgs(fs *flag.FlagSet, usage string, args []string, nargs int) (pos []string, status int, ok bool) {
	pos, err := parse(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return nil, 0, false
	case err != nil: // the flag package printed it, with the usage
		return nil, exitUsage, false
	case len(pos) != nargs:
		fmt.Fprintln(fs.Output(), "usage: boxlitefs "+usage)
		return nil, exitUsage, false
	}
	return pos, 0, true
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

// fail prints err for the command and gives its exit status.
func fail(cmd string, err error) int {
	fmt.Fprintf(os.Stderr, "boxlitefs %s: %v\n", cmd, err)
	return exitFailed
}
