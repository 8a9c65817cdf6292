package quiesce

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestLineReader(t *testing.T) {
	long := strings.Repeat("x", 200)
	in := "a\n" + long + "\n" + strings.Repeat("y", 100) + "\nb\npartial"
	l := NewLineReader(strings.NewReader(in), 100)
	want := []struct {
		line string
		err  error
	}{
		{"a", nil},
		{"", ErrLineTooLong},
		{strings.Repeat("y", 100), nil},
		{"b", nil},
		{"", io.EOF}, // a partial last line is dropped
	}
	for i, w := range want {
		got, err := l.Next()
		if string(got) != w.line || !errors.Is(err, w.err) {
			t.Fatalf("line %d: got %q, %v; want %q, %v", i, got, err, w.line, w.err)
		}
	}
}

func TestLineReaderSkipsLinesLongerThanItsBuffer(t *testing.T) {
	// Longer than bufio's buffer too, so the skip spans several reads.
	in := strings.Repeat("z", 300<<10) + "\nnext\n"
	l := NewLineReader(strings.NewReader(in), 1<<10)
	if _, err := l.Next(); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("got %v, want ErrLineTooLong", err)
	}
	if got, err := l.Next(); string(got) != "next" || err != nil {
		t.Fatalf("after the long line: %q, %v", got, err)
	}
}

// FuzzLineReader checks the reader against a model: the input split at
// newlines, lines over the limit reported as too long, a partial last line
// dropped.
func FuzzLineReader(f *testing.F) {
	f.Add([]byte("a\nbb\n"), uint8(1))
	f.Add([]byte("\n\n\nxyz"), uint8(0))
	f.Add([]byte(strings.Repeat("q", 70000)+"\nz\n"), uint8(200))
	f.Fuzz(func(t *testing.T, in []byte, limit uint8) {
		max := int(limit)
		l := NewLineReader(strings.NewReader(string(in)), max)
		parts := strings.Split(string(in), "\n")
		for _, want := range parts[:len(parts)-1] {
			got, err := l.Next()
			if len(want) > max {
				if !errors.Is(err, ErrLineTooLong) {
					t.Fatalf("line of %d bytes over %d: got %q, %v", len(want), max, got, err)
				}
				continue
			}
			if err != nil || string(got) != want {
				t.Fatalf("got %q, %v; want %q", got, err, want)
			}
		}
		if got, err := l.Next(); err != io.EOF {
			t.Fatalf("at the end: got %q, %v; want EOF", got, err)
		}
	})
}
