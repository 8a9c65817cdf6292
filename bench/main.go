// Command bench measures boxlitefs against the tools it replaces (qemu-img,
// tar, zstd, other libraries) and prints one markdown table; BENCHMARKS.md
// keeps its output.
//
//	go run ./bench               every scenario
//	go run ./bench -only qcow2   the scenarios of area qcow2 (or, if there is no
//	                             such area, those whose name contains "qcow2")
//	go run ./bench -out FILE     also write the table to FILE
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
)

func main() {
	only := flag.String("only", "", "run only scenarios whose area or name contains this")
	out := flag.String("out", "", "also write the table to this file")
	reps := flag.Int("n", 0, "repetitions per scenario (0 = each scenario's default)")
	dir := flag.String("dir", "", "scratch directory on the filesystem to measure (default: a new temporary directory)")
	child := flag.String("child", "", "internal: run one operation in this process, for peak-RSS measurement")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *child != "" {
		if err := runChildOp(ctx, *child, flag.Args()); err != nil {
			fmt.Fprintf(os.Stderr, "bench child %s: %v\n", *child, err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, log, *only, *out, *reps, *dir); err != nil {
		log.Error("bench", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, only, out string, reps int, dir string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "boxlitefs-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	env := &Env{Dir: dir, Self: self, Log: log}
	var results []Result
	for _, s := range selected(scenarios(), only) {
		n := s.Reps
		if reps > 0 {
			n = reps
		}
		results = append(results, runScenario(ctx, env, s, n))
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return writeTable(results, out)
}

// selected keeps the scenarios of area only, or if no area has that name,
// those whose name contains it; "" keeps all.
func selected(all []Scenario, only string) []Scenario {
	if only == "" {
		return all
	}
	var byArea, byName []Scenario
	for _, s := range all {
		if s.Area == only {
			byArea = append(byArea, s)
		}
		if strings.Contains(s.Name, only) {
			byName = append(byName, s)
		}
	}
	if len(byArea) > 0 {
		return byArea
	}
	return byName
}
