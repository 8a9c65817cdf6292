package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Scenario is one comparison: an operation of boxlitefs and the tool it
// replaces (or a baseline of its own), run side by side, alternately, so
// that both see the same machine.
type Scenario struct {
	Area string // "qcow2", "export", ...: what -only selects
	Name string
	Reps int // default repetitions; -n overrides
	// Setup prepares the inputs in env.Dir (untimed) and returns the case.
	Setup func(ctx context.Context, env *Env) (*Case, error)
}

// Case is a prepared scenario.
type Case struct {
	Ours, Theirs Side
	Bytes        int64 // bytes each repetition moves, for MB/s; 0 = report latency
	Notes        string
	Ratio        func(ours, theirs Stats) string // nil = how many times faster ours is
	ReportRSS    bool                            // show the peak RSS of both sides
	Cleanup      func() error                    // after all repetitions
}

// Side is one contender: a label and an operation that runs once.
type Side struct {
	Label string
	Run   func(ctx context.Context, rep int) (Sample, error)
}

// Sample is one timed run.
type Sample struct {
	Duration  time.Duration
	MaxRSSKiB int64 // peak resident set of the child process, when measured
}

// Stats summarises the samples of one side.
type Stats struct {
	P50, P90  time.Duration
	MaxRSSKiB int64
	N         int
}

// Env is what scenarios share.
type Env struct {
	Dir  string // scratch directory, removed at the end
	Self string // this executable, for child processes
	Log  *slog.Logger
}

// Result is one row of the table.
type Result struct {
	Scenario     Scenario
	Case         *Case
	Ours, Theirs Stats
	Err          error
}

// runScenario sets a scenario up, warms both sides once, then runs them
// in turn for reps repetitions, which side goes first alternating.
func runScenario(ctx context.Context, env *Env, s Scenario, reps int) Result {
	res := Result{Scenario: s}
	env.Log.Info("setup", "area", s.Area, "scenario", s.Name)
	c, err := s.Setup(ctx, env)
	if err != nil {
		res.Err = fmt.Errorf("setup: %w", err)
		return res
	}
	res.Case = c
	defer func() {
		if c.Cleanup != nil {
			if err := c.Cleanup(); err != nil {
				env.Log.Warn("cleanup", "scenario", s.Name, "err", err)
			}
		}
	}()
	for _, side := range []Side{c.Ours, c.Theirs} {
		if _, err := side.Run(ctx, -1); err != nil {
			res.Err = fmt.Errorf("warm-up of %s: %w", side.Label, err)
			return res
		}
	}
	var ours, theirs []Sample
	type contender struct {
		s   Side
		out *[]Sample
	}
	for rep := range reps {
		env.Log.Info("run", "scenario", s.Name, "rep", rep+1, "of", reps)
		order := []contender{{c.Ours, &ours}, {c.Theirs, &theirs}}
		if rep%2 == 1 { // neither side always inherits the other's aftermath
			order[0], order[1] = order[1], order[0]
		}
		for _, side := range order {
			// Start from clean page cache: dirty pages left by the previous
			// run would be flushed on this one's time.
			syscall.Sync()
			sample, err := side.s.Run(ctx, rep)
			if err != nil {
				res.Err = fmt.Errorf("%s: %w", side.s.Label, err)
				return res
			}
			*side.out = append(*side.out, sample)
		}
	}
	res.Ours, res.Theirs = summarise(ours), summarise(theirs)
	return res
}

func summarise(samples []Sample) Stats {
	d := make([]time.Duration, len(samples))
	st := Stats{N: len(samples)}
	for i, s := range samples {
		d[i] = s.Duration
		st.MaxRSSKiB = max(st.MaxRSSKiB, s.MaxRSSKiB)
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	st.P50, st.P90 = percentile(d, 50), percentile(d, 90)
	return st
}

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100
	return sorted[max(0, rank-1)]
}

// table renders the results as one markdown table.
func table(results []Result) string {
	var b strings.Builder
	b.WriteString("| Area | Scenario | boxlitefs | Competitor | Ratio | Notes |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, r := range results {
		if r.Err != nil {
			fmt.Fprintf(&b, "| %s | %s | failed: %v | | | |\n", r.Scenario.Area, r.Scenario.Name, r.Err)
			continue
		}
		c := r.Case
		ratio := speedup(r.Ours, r.Theirs)
		if c.Ratio != nil {
			ratio = c.Ratio(r.Ours, r.Theirs)
		}
		notes := c.Notes
		if c.ReportRSS {
			notes = strings.TrimPrefix(fmt.Sprintf("%s; peak RSS %s vs %s", notes,
				mib(r.Ours.MaxRSSKiB), mib(r.Theirs.MaxRSSKiB)), "; ")
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s: %s | %s | %s |\n", r.Scenario.Area, r.Scenario.Name,
			measure(r.Ours, c.Bytes), c.Theirs.Label, measure(r.Theirs, c.Bytes), ratio,
			strings.TrimPrefix(fmt.Sprintf("%s (n=%d)", notes, r.Ours.N), " "))
	}
	return b.String()
}

// measure shows throughput at the median when the case moves bytes, else
// latency percentiles.
func measure(s Stats, bytes int64) string {
	if bytes > 0 {
		return fmt.Sprintf("%.0f MB/s (p50 %s, p90 %s)", float64(bytes)/s.P50.Seconds()/1e6, dur(s.P50), dur(s.P90))
	}
	return fmt.Sprintf("p50 %s, p90 %s", dur(s.P50), dur(s.P90))
}

// speedup says how many times faster ours is, at the median.
func speedup(ours, theirs Stats) string {
	if ours.P50 <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", theirs.P50.Seconds()/ours.P50.Seconds())
}

func dur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func mib(kib int64) string { return fmt.Sprintf("%.0f MiB", float64(kib)/1024) }

// writeTable prints the table and, if path is set, writes it there too.
func writeTable(results []Result, path string) error {
	t := table(results)
	fmt.Print(t)
	if path == "" {
		return nil
	}
	return os.WriteFile(path, []byte(t), 0o644)
}
