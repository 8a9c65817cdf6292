#!/bin/sh
# Runs every `func FuzzXxx` in the module for a short time each.
# usage: scripts/fuzz.sh DURATION   (for example 10s)
set -eu
dur=${1:-10s}
grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do
	pkg=./$(dirname "${f#./}")
	for fn in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2); do
		echo "fuzz: $pkg $fn ($dur)"
		# A short run is better spent fuzzing than shrinking each new input.
		go test -run '^$' -fuzz "^$fn\$" -fuzztime "$dur" -fuzzminimizetime 3s "$pkg"
	done
done
