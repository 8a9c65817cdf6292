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
