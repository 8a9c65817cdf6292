package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// childOp is an operation a scenario runs in a child process of its own, so
// that the child's peak RSS is the operation's alone.
type childOp func(ctx context.Context, args []string) error

func runChildOp(ctx context.Context, name string, args []string) error {
	op, ok := childOps()[name]
	if !ok {
		return fmt.Errorf("no child operation %q", name)
	}
	return op(ctx, args)
}

// inChild runs child operation name of this executable.
func (env *Env) inChild(ctx context.Context, name string, args ...string) (Sample, error) {
	return timeCommand(ctx, env.Self, append([]string{"-child", name}, args...)...)
}

// timeCommand runs a command to its end and reports its wall time and its
// peak resident set size.
func timeCommand(ctx context.Context, name string, args ...string) (Sample, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	if err != nil {
		return Sample{}, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	s := Sample{Duration: elapsed}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.MaxRSSKiB = ru.Maxrss // kilobytes on Linux
	}
	return s, nil
}

// timed runs f and reports its wall time.
func timed(f func() error) (Sample, error) {
	start := time.Now()
	err := f()
	return Sample{Duration: time.Since(start)}, err
}
