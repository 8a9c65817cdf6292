package main

import (
	"io"
	"slices"
	"testing"
)

func TestParseSize(t *testing.T) {
	good := map[string]int64{"10G": 10 << 30, "512m": 512 << 20, "64MB": 64 << 20, "1048576": 1 << 20, "2T": 2 << 40, "4k": 4 << 10}
	for in, want := range good {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "G", "-1G", "0", "1.5G", "12Q", "9999999999T"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}

// TestParseInterspersed: flags may follow the positional arguments.
func TestParseInterspersed(t *testing.T) {
	fs := newFlags("test", "test")
	f := fs.Bool("f", false, "")
	home := fs.String("home", "", "")
	pos, err := parse(fs, []string{"/mnt", "-f", "--home", "/h", "extra"})
	if err != nil || !*f || *home != "/h" || !slices.Equal(pos, []string{"/mnt", "extra"}) {
		t.Fatalf("parse: %q %v f=%v home=%q", pos, err, *f, *home)
	}
}

// TestParseArgs: a command line that is not one exits 2 with the usage
// said, -h exits 0.
func TestParseArgs(t *testing.T) {
	for _, c := range []struct {
		args   []string
		status int
		ok     bool
	}{
		{[]string{"a"}, 0, true},
		{[]string{"a", "b"}, exitUsage, false},
		{nil, exitUsage, false},
		{[]string{"-x", "a"}, exitUsage, false},
		{[]string{"-h"}, 0, false},
	} {
		fs := newFlags("test", "test ARG")
		fs.SetOutput(io.Discard)
		if _, status, ok := parseArgs(fs, "test ARG", c.args, 1); status != c.status || ok != c.ok {
			t.Errorf("parseArgs(%q) = %d, %v; want %d, %v", c.args, status, ok, c.status, c.ok)
		}
	}
}

func TestParseMountOptions(t *testing.T) {
	if allow, err := parseMountOptions("allow_other"); err != nil || !allow {
		t.Errorf("allow_other: %v %v", allow, err)
	}
	if allow, err := parseMountOptions(""); err != nil || allow {
		t.Errorf("none: %v %v", allow, err)
	}
	if _, err := parseMountOptions("allow_other,ro"); err == nil {
		t.Error("ro accepted")
	}
}
