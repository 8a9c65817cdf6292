package ops

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// TestSpool streams more than its capacity through it in odd-sized pieces.
func TestSpool(t *testing.T) {
	s := newSpool(1000)
	want := make([]byte, 100_000)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range want {
		want[i] = byte(rng.Uint32())
	}
	go func() {
		rest := want
		for len(rest) > 0 {
			n := min(len(rest), 1+rng.IntN(3000))
			if _, err := s.Write(rest[:n]); err != nil {
				s.CloseWrite(err)
				return
			}
			rest = rest[n:]
		}
		s.CloseWrite(nil)
	}()
	got, err := io.ReadAll(s)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, err %v; equal %v", len(got), err, bytes.Equal(got, want))
	}
}

// TestSpoolErrors: a writer's error reaches the reader after the data, and
// a reader that leaves unblocks the writer.
func TestSpoolErrors(t *testing.T) {
	boom := errors.New("boom")
	s := newSpool(16)
	s.Write([]byte("abc"))
	s.CloseWrite(boom)
	got, err := io.ReadAll(s)
	if string(got) != "abc" || !errors.Is(err, boom) {
		t.Fatalf("got %q, %v", got, err)
	}

	s = newSpool(4)
	done := make(chan error)
	go func() {
		_, err := s.Write(make([]byte, 100))
		done <- err
	}()
	s.CloseRead(boom)
	if err := <-done; !errors.Is(err, boom) {
		t.Fatalf("writer got %v", err)
	}
}
