package quiesce

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

var (
	// ErrTimeout: the agent did not answer before the context's deadline
	// (a hung or paused guest, or a request blocked on a frozen filesystem).
	ErrTimeout = fmt.Errorf("guest agent did not answer in time: %w", errdefs.ErrBusy)
	// ErrDisconnected: the connection to the agent is gone (the VM stopped).
	ErrDisconnected = fmt.Errorf("guest agent connection closed: %w", errdefs.ErrBusy)
)

// Options tune a Client; the zero value is ready to use.
type Options struct {
	// FreezeHold is how long a freeze may last before the agent thaws by
	// itself, so that a host that dies mid-capture never leaves the guest
	// frozen (0 = DefaultFreezeHold).
	FreezeHold time.Duration
}

// Client talks to one guest agent. It is safe for concurrent use: requests
// are matched to responses by id.
type Client struct {
	conn    net.Conn
	log     *slog.Logger
	hold    time.Duration
	session uint64

	writeMu sync.Mutex // one line at a time on the wire
	torn    bool       // under writeMu: the last write stopped mid-line

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan Response
	closed  bool

	done chan struct{} // closed when the reader stops
}

// Dial connects to the agent's socket (a QEMU chardev) at path.
func Dial(ctx context.Context, path string, opts Options, log *slog.Logger) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("connect to guest agent: %w", err)
	}
	return NewClient(conn, opts, log), nil
}

// NewClient serves requests over conn until Close or until conn fails.
func NewClient(conn net.Conn, opts Options, log *slog.Logger) *Client {
	hold := opts.FreezeHold
	if hold <= 0 {
		hold = DefaultFreezeHold
	}
	var seed [16]byte
	_, _ = rand.Read(seed[:])
	c := &Client{
		conn:    conn,
		log:     log,
		hold:    min(hold, MaxFreezeHold),
		session: binary.LittleEndian.Uint64(seed[8:]) | 1,
		// A random first id keeps a previous connection's late answers,
		// which the guest may still be sending, from matching ours.
		nextID:  binary.LittleEndian.Uint64(seed[:8]) >> 1,
		pending: make(map[uint64]chan Response),
		done:    make(chan struct{}),
	}
	go c.readLoop()
	return c
}

// Close drops the connection; calls in flight fail with ErrDisconnected.
func (c *Client) Close() error {
	err := c.conn.Close()
	<-c.done
	return err
}

// Done is closed when the connection to the agent is gone.
func (c *Client) Done() <-chan struct{} { return c.done }

func (c *Client) readLoop() {
	defer close(c.done)
	lines := NewLineReader(c.conn, MaxLine)
	for {
		line, err := lines.Next()
		if errors.Is(err, ErrLineTooLong) {
			c.log.Warn("guest agent sent an oversized line; skipped")
			continue
		}
		if err != nil {
			c.mu.Lock()
			c.closed = true
			for id, ch := range c.pending {
				close(ch)
				delete(c.pending, id)
			}
			c.mu.Unlock()
			return
		}
		var r Response
		if err := json.Unmarshal(line, &r); err != nil {
			c.log.Warn("guest agent sent a malformed line; skipped", "err", err)
			continue
		}
		c.mu.Lock()
		ch, ok := c.pending[r.ID]
		delete(c.pending, r.ID)
		c.mu.Unlock()
		if !ok {
			c.log.Debug("late or unknown answer from guest agent", "id", r.ID)
			continue
		}
		ch <- r
	}
}

// call sends req and waits for its answer, the context, or the connection's end.
func (c *Client) call(ctx context.Context, req Request) (Response, error) {
	ch := make(chan Response, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return Response{}, fmt.Errorf("%s: %w", req.Op, ErrDisconnected)
	}
	c.nextID++
	req.ID, req.Session = c.nextID, c.session
	c.pending[req.ID] = ch
	c.mu.Unlock()

	if err := c.send(ctx, req); err != nil {
		c.forget(req.ID)
		return Response{}, err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return Response{}, fmt.Errorf("%s: %w", req.Op, ErrDisconnected)
		}
		if r.Error != "" {
			return r, remoteError(req.Op, r)
		}
		return r, nil
	case <-ctx.Done():
		c.forget(req.ID)
		return Response{}, contextError(req.Op, ctx)
	}
}

func (c *Client) send(ctx context.Context, req Request) error {
	line, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("%s: encode request: %w", req.Op, err)
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.torn {
		// End the line a failed write left half-sent, so the agent rejects
		// that garbage alone and reads this request intact.
		line = append([]byte{'\n'}, line...)
	}
	line = append(line, '\n')
	// The socket buffers requests while the guest is not reading, so a
	// write blocks only when that buffer is full; ctx bounds it too.
	deadline, _ := ctx.Deadline()
	_ = c.conn.SetWriteDeadline(deadline)
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = c.conn.SetWriteDeadline(time.Unix(1, 0))
		close(fired)
	})
	n, err := c.conn.Write(line)
	if !stop() {
		<-fired // so it cannot reach into the next request's deadline
	}
	c.torn = err != nil && n > 0
	if err == nil {
		return nil
	}
	if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return contextError(req.Op, ctx)
	}
	return fmt.Errorf("%s: %w: %v", req.Op, ErrDisconnected, err)
}

func (c *Client) forget(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// contextError tells a deadline (ErrTimeout) from a cancellation.
func contextError(op string, ctx context.Context) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("%s: %w", op, ctx.Err())
	}
	return fmt.Errorf("%s: %w (%w)", op, ErrTimeout, context.DeadlineExceeded)
}
