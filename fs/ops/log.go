package ops

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Log is the mount's `log` file: a bounded ring of recent operations and
// refusals, one line each, newest last. Every line also goes to slog, so a
// daemon's stderr keeps what the ring forgets.
type Log struct {
	mu    sync.Mutex
	lines []string // ring storage
	next  int      // where the next line goes once the ring is full
	full  bool
	slog  *slog.Logger
	now   func() time.Time
}

// NewLog keeps the last capacity lines.
func NewLog(capacity int, logger *slog.Logger) *Log {
	if capacity < 1 {
		capacity = 1
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Log{lines: make([]string, 0, capacity), slog: logger, now: time.Now}
}

// Done records an operation on path and returns the errno it ends with:
// 0 for success, the class's errno (see Errno) for a refusal, whose line
// carries the reason.
func (l *Log) Done(op, path string, err error) syscall.Errno {
	errno := Errno(err)
	ts := l.now().UTC().Format(time.RFC3339)
	if err == nil {
		l.add(fmt.Sprintf("%s %s %s: ok", ts, op, path))
		l.slog.Debug(op, "path", path)
		return 0
	}
	reason := strings.ReplaceAll(err.Error(), "\n", "; ")
	l.add(fmt.Sprintf("%s %s %s: %s: %s", ts, op, path, ErrnoName(errno), reason))
	level := slog.LevelInfo
	if errno == syscall.EIO {
		level = slog.LevelError // unclassified: a bug or a broken disk, not a refusal
	}
	l.slog.Log(context.Background(), level, op, "path", path, "errno", ErrnoName(errno), "err", err)
	return errno
}

func (l *Log) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.full {
		l.lines = append(l.lines, line)
		l.full = len(l.lines) == cap(l.lines)
		return
	}
	l.lines[l.next] = line
	l.next = (l.next + 1) % len(l.lines)
}

// Lines returns the recorded lines, oldest first.
func (l *Log) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.lines))
	out = append(out, l.lines[l.next:]...)
	return append(out, l.lines[:l.next]...)
}

// Bytes is the log file's content: every line, newline-terminated.
func (l *Log) Bytes() []byte {
	var b bytes.Buffer
	for _, line := range l.Lines() {
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}
