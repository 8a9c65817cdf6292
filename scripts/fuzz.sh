#!/bin/sh
# Runs every `func FuzzXxx` in the module for a short time each.
# usage: scripts/fuzz.sh DURATION   (for example 10s)
set -eu
dur=${1:-10s}
grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do
	pkg=./$(dirname "${f#./}")
	for fn in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2); do
		echo "fuzz: $pkg $fn ($dur)"
		go test -run '^$' -fuzz "^$fn\$" -fuzztime "$dur" "$pkg"
	done
done
