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

// TestSpoolReadFull reads in requests larger and smaller than the spool:
// each is filled whole except the last, which ends with ErrUnexpectedEOF,
// and the next gets io.EOF.
func TestSpoolReadFull(t *testing.T) {
	s := newSpool(1000)
	want := make([]byte, 100_001)
	for i := range want {
		want[i] = byte(i * 7)
	}
	go func() {
		for rest := want; len(rest) > 0; {
			n := min(len(rest), 1+len(rest)%2999)
			if _, err := s.Write(rest[:n]); err != nil {
				return
			}
			rest = rest[n:]
		}
		s.CloseWrite(nil)
	}()
	var got []byte
	for i := 0; ; i++ {
		p := make([]byte, []int{4096, 300, 1000, 2500}[i%4])
		n, err := s.ReadFull(p)
		got = append(got, p[:n]...)
		if err == nil {
			continue
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) || n == 0 || n == len(p) {
			t.Fatalf("last read: %d of %d bytes, %v", n, len(p), err)
		}
		break
	}
	if n, err := s.ReadFull(make([]byte, 10)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("after the end: %d bytes, %v", n, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, not the %d written", len(got), len(want))
	}
}
