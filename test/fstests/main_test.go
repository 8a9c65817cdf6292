// Package fstests drives a real boxlitefs mount with the shell tools its
// users have (mkdir, cat, echo, cp, mv, tar, qemu-img, python3) and checks
// what they see (SPEC 2).
package fstests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// binary is the boxlitefs command built once for the whole run; TestMain
// sets it before any test runs and nothing changes it afterwards.
var binary string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "fstests-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "boxlitefs")
	build := exec.Command("go", "build", "-o", binary, "github.com/boxlite-ai/boxlitefs/cmd/boxlitefs")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building boxlitefs:", err)
		return 1
	}
	return m.Run()
}
