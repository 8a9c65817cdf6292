package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
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
//
// The peak comes from the child's VmHWM in /proc, sampled every
// millisecond (it only grows, so the last sample is within a millisecond of
// the true peak). rusage's ru_maxrss would not do: the child starts as a
// vfork of this process, and Linux carries that memory's high-water mark
// across exec, so every child would seem to be at least as large as us.
func timeCommand(ctx context.Context, name string, args ...string) (Sample, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Sample{}, err
	}
	peak := make(chan int64, 1)
	done := make(chan struct{})
	go func() { peak <- sampleHWM(cmd.Process.Pid, done) }()
	err := cmd.Wait()
	elapsed := time.Since(start)
	close(done)
	s := Sample{Duration: elapsed, MaxRSSKiB: <-peak}
	if err != nil {
		return s, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return s, nil
}

// sampleHWM reads the VmHWM of pid until done is closed and returns the
// largest value seen, in KiB.
func sampleHWM(pid int, done <-chan struct{}) int64 {
	path := fmt.Sprintf("/proc/%d/status", pid)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var peak int64
	for {
		if status, err := os.ReadFile(path); err == nil {
			peak = max(peak, statusField(status, "VmHWM:"))
		}
		select {
		case <-done:
			return peak
		case <-tick.C:
		}
	}
}

// statusField returns a "Name:   123 kB" field of /proc/PID/status.
func statusField(status []byte, name string) int64 {
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, name); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// timed runs f and reports its wall time.
func timed(f func() error) (Sample, error) {
	start := time.Now()
	err := f()
	return Sample{Duration: time.Since(start)}, err
}
