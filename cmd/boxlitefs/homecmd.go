package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

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
func (c homeCommand) command() command { return command{summary: c.usage, run: c.run} }

func (c homeCommand) run(ctx context.Context, args []string) int {
	var com common
	fs := newFlags(c.name)
	com.register(fs)
	if c.flags != nil {
		c.flags(fs)
	}
	pos, err := parse(fs, args)
	if err != nil {
		return fail(c.name, err)
	}
	if len(pos) != c.nargs {
		return fail(c.name, errors.New("usage: boxlitefs "+c.usage))
	}
	rt, err := com.open(ctx, com.logger())
	if err != nil {
		return fail(c.name, err)
	}
	defer rt.Close()
	if err := c.do(ctx, rt, pos); err != nil {
		return fail(c.name, err)
	}
	return 0
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
