package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// exportCmd writes a .boxsnap of a box (or of one of its snapshots) to a
// file or to standard output, with the box's export settings.
func exportCmd() homeCommand {
	var out, snap string
	return homeCommand{
		name: "export", nargs: 1, usage: "export [--home DIR] BOX [--snapshot NAME] [-o FILE]",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&out, "o", "", "write the archive to FILE (default: standard output)")
			fs.StringVar(&snap, "snapshot", "", "export this snapshot instead of the current state")
		},
		do: onBox(func(ctx context.Context, box *snapshot.Box, _ []string) error {
			s, err := settings(ctx, box)
			if err != nil {
				return err
			}
			w, done, err := output(out)
			if err != nil {
				return err
			}
			if snap == "" {
				err = box.Export(ctx, w, s.Export)
			} else {
				err = box.Snapshots().Export(ctx, snap, w, s.Export)
			}
			return done(err)
		}),
	}
}

// output opens where an archive goes: a new file (removed if the export
// fails) or standard output, unless that is a terminal.
func output(path string) (io.Writer, func(error) error, error) {
	if path == "" {
		// A terminal, not any character device: > /dev/null is fine.
		if _, err := unix.IoctlGetTermios(int(os.Stdout.Fd()), unix.TCGETS); err == nil {
			return nil, nil, errors.New("refusing to write an archive to a terminal: use -o FILE or a redirection")
		}
		return os.Stdout, func(err error) error { return err }, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, nil, err
	}
	return f, func(err error) error {
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
		}
		return err
	}, nil
}
