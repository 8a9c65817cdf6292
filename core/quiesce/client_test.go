package quiesce

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// These tests put a scripted peer on the other end, to play a guest that
// misbehaves in ways the real agent (tested in cmd/boxlite-agent and, in a
// VM, in core/runner) never does.

type peer struct {
	conn  net.Conn
	lines *LineReader
}

func newPair(t *testing.T, opts Options) (*Client, *peer) {
	t.Helper()
	a, b := net.Pipe()
	c := NewClient(a, opts, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { c.Close(); b.Close() })
	return c, &peer{conn: b, lines: NewLineReader(b, MaxLine)}
}

func (p *peer) next(t *testing.T) Request {
	t.Helper()
	line, err := p.lines.Next()
	if err != nil {
		t.Errorf("peer read: %v", err)
		return Request{}
	}
	var r Request
	if err := json.Unmarshal(line, &r); err != nil {
		t.Errorf("peer: bad request %q: %v", line, err)
	}
	return r
}

func (p *peer) send(t *testing.T, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	if _, err := p.conn.Write(append(b, '\n')); err != nil {
		t.Errorf("peer write: %v", err)
	}
}

func (p *peer) sendRaw(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(p.conn, s); err != nil {
		t.Errorf("peer write: %v", err)
	}
}

func deadline(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestSilentAgentTimesOut(t *testing.T) {
	c, p := newPair(t, Options{FreezeHold: 3 * time.Second})
	got := make(chan Request, 2)
	go func() {
		for range 2 {
			got <- p.next(t)
		}
	}()
	began := time.Now()
	err := c.Freeze(deadline(t, 300*time.Millisecond))
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, errdefs.ErrBusy) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("timed out after %s", took)
	}
	freeze, thaw := <-got, <-got
	if freeze.Op != OpFreeze || freeze.HoldMillis != 3000 {
		t.Fatalf("first request %+v, want a freeze holding 3 s", freeze)
	}
	// An abandoned freeze is followed by a thaw, in case the guest
	// carries the freeze out late.
	if thaw.Op != OpThaw {
		t.Fatalf("second request %+v, want the thaw after the abandoned freeze", thaw)
	}
}

func TestCancelIsNotATimeout(t *testing.T) {
	c, p := newPair(t, Options{})
	go p.next(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	err := c.Sync(ctx)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestBlockedWriteHonorsDeadline(t *testing.T) {
	c, _ := newPair(t, Options{}) // the peer never reads: net.Pipe blocks the write
	err := c.Sync(deadline(t, 200*time.Millisecond))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
}

func TestAnswersMatchByIDAndJunkIsSkipped(t *testing.T) {
	c, p := newPair(t, Options{})
	go func() {
		req := p.next(t)
		p.sendRaw(t, "not json\n")
		p.sendRaw(t, strings.Repeat("x", MaxLine+10)+"\n")
		p.send(t, Response{ID: req.ID + 1000, Error: "someone else's"})
		p.send(t, Response{ID: req.ID, Data: []byte("mine")})
	}()
	data, err := c.ReadFile(deadline(t, 5*time.Second), "container", "a")
	if err != nil || string(data) != "mine" {
		t.Fatalf("got %q, %v", data, err)
	}
}

func TestRemoteErrorsKeepTheirClass(t *testing.T) {
	c, p := newPair(t, Options{})
	go func() {
		req := p.next(t)
		p.send(t, Response{ID: req.ID, Error: "no such file", Code: CodeOf(errdefs.ErrNotFound)})
		req = p.next(t)
		p.send(t, Response{ID: req.ID, Error: "strange", Code: "from-the-future"})
		req = p.next(t)
		p.send(t, Response{ID: req.ID}) // a ping answer without a status
	}()
	if _, err := c.ReadFile(deadline(t, 5*time.Second), "d", "f"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
	err := c.Thaw(deadline(t, 5*time.Second))
	if err == nil || !strings.Contains(err.Error(), "strange") {
		t.Fatalf("got %v, want the agent's message", err)
	}
	if _, err := c.Ping(deadline(t, 5*time.Second)); !errors.Is(err, errdefs.ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
}

func TestDisconnectFailsCallsInFlightAndLater(t *testing.T) {
	c, p := newPair(t, Options{})
	go func() {
		p.next(t)
		p.conn.Close()
	}()
	if err := c.Sync(deadline(t, 5*time.Second)); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("in flight: got %v, want ErrDisconnected", err)
	}
	<-c.Done()
	if err := c.Sync(deadline(t, 5*time.Second)); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("after: got %v, want ErrDisconnected", err)
	}
}

func TestOversizedWriteIsRefusedLocally(t *testing.T) {
	c, _ := newPair(t, Options{})
	err := c.WriteFile(deadline(t, time.Second), "d", "f", make([]byte, MaxFileData+1))
	if !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("got %v, want ErrInvalid", err)
	}
}

func TestHalfSentRequestDoesNotSpoilTheNext(t *testing.T) {
	c, p := newPair(t, Options{})
	started := make(chan struct{})
	go func() {
		var head [10]byte
		io.ReadFull(p.conn, head[:]) // then stop reading: the write times out mid-line
		close(started)
	}()
	if err := c.Sync(deadline(t, 300*time.Millisecond)); !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	<-started
	go func() {
		rest, err := p.lines.Next() // what is left of the torn line
		if err != nil || json.Valid(rest) {
			t.Errorf("torn line: %q, %v", rest, err)
		}
		req := p.next(t)
		p.send(t, Response{ID: req.ID, Status: &Status{Version: "test"}})
	}()
	if st, err := c.Ping(deadline(t, 5*time.Second)); err != nil || st.Version != "test" {
		t.Fatalf("ping after a torn request: %+v, %v", st, err)
	}
}
