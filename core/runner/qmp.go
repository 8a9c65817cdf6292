package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/quiesce"
	"golang.org/x/sys/unix"
)

// qmp is a QEMU Machine Protocol connection. Commands run one at a time;
// events are logged and otherwise ignored.
type qmp struct {
	conn  *net.UnixConn
	log   *slog.Logger
	mu    sync.Mutex
	lines *quiesce.LineReader
	id    uint64
}

// qmpError is QEMU's refusal of a command.
type qmpError struct {
	Class string `json:"class"`
	Desc  string `json:"desc"`
}

func (e *qmpError) Error() string { return e.Class + ": " + e.Desc }

// dialQMP connects to QEMU's QMP socket, retrying until QEMU has created
// it, and negotiates capabilities.
func dialQMP(ctx context.Context, path string, exited <-chan struct{}, log *slog.Logger) (*qmp, error) {
	for {
		c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
		if err == nil {
			q := &qmp{conn: c, log: log, lines: quiesce.NewLineReader(c, quiesce.MaxLine)}
			if err := q.handshake(ctx); err != nil {
				c.Close()
				return nil, err
			}
			return q, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to QMP: %w", err)
		case <-exited:
			return nil, errors.New("QEMU exited before its QMP socket accepted")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (q *qmp) handshake(ctx context.Context) error {
	q.mu.Lock()
	release := bindDeadline(ctx, q.conn)
	line, err := q.lines.Next()
	release()
	q.mu.Unlock()
	if err != nil {
		return fmt.Errorf("QMP greeting: %w", err)
	}
	var greeting struct {
		QMP json.RawMessage `json:"QMP"`
	}
	if json.Unmarshal(line, &greeting) != nil || greeting.QMP == nil {
		return fmt.Errorf("QMP greeting: unexpected %.100q", line)
	}
	_, err = q.execute(ctx, "qmp_capabilities", nil)
	return err
}

func (q *qmp) Close() error { return q.conn.Close() }

// execute runs one command and returns its "return" value.
func (q *qmp) execute(ctx context.Context, cmd string, args any) (json.RawMessage, error) {
	return q.executeWithFile(ctx, cmd, args, nil)
}

// executeWithFile runs one command, passing f's descriptor along with it
// (SCM_RIGHTS), as add-fd needs.
func (q *qmp) executeWithFile(ctx context.Context, cmd string, args any, f *os.File) (json.RawMessage, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.id++
	id := q.id
	msg, err := json.Marshal(struct {
		Execute   string `json:"execute"`
		Arguments any    `json:"arguments,omitempty"`
		ID        uint64 `json:"id"`
	}{cmd, args, id})
	if err != nil {
		return nil, fmt.Errorf("QMP %s: %w", cmd, err)
	}
	release := bindDeadline(ctx, q.conn)
	defer release()
	if f != nil {
		_, _, err = q.conn.WriteMsgUnix(msg, unix.UnixRights(int(f.Fd())), nil)
	} else {
		_, err = q.conn.Write(msg)
	}
	if err != nil {
		return nil, fmt.Errorf("QMP %s: %w", cmd, err)
	}
	for {
		line, err := q.lines.Next()
		if err != nil {
			return nil, fmt.Errorf("QMP %s: %w", cmd, err)
		}
		var r struct {
			ID     *uint64         `json:"id"`
			Return json.RawMessage `json:"return"`
			Error  *qmpError       `json:"error"`
			Event  string          `json:"event"`
		}
		if err := json.Unmarshal(line, &r); err != nil {
			q.log.Warn("QMP: unreadable line", "err", err)
			continue
		}
		switch {
		case r.Event != "":
			q.log.Debug("QMP event", "event", r.Event)
		case r.ID == nil || *r.ID != id:
			// The answer to a command abandoned at its deadline.
		case r.Error != nil:
			return nil, fmt.Errorf("QMP %s: %w", cmd, r.Error)
		default:
			return r.Return, nil
		}
	}
}

// bindDeadline applies ctx's deadline and cancellation to conn's I/O until
// release is called.
func bindDeadline(ctx context.Context, conn net.Conn) (release func()) {
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = conn.SetDeadline(time.Unix(1, 0))
		close(fired)
	})
	return func() {
		if !stop() {
			<-fired
		}
		_ = conn.SetDeadline(time.Time{})
	}
}
