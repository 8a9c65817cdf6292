package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
	"github.com/boxlite-ai/boxlitefs/core/quiesce"
	"golang.org/x/sys/unix"
)

const (
	// hostPoll is how often the agent looks for the host while none is
	// connected (a port then reads as end-of-file at once).
	hostPoll = 20 * time.Millisecond
	// orderedQueue and fileWorkers bound what a flooding host can pile up.
	orderedQueue = 16
	fileWorkers  = 8
)

// server answers the host's requests. Ping is answered at once, freeze, thaw,
// sync and shutdown run one at a time in arrival order, file requests run
// concurrently (a write may block on a frozen filesystem until a thaw).
type server struct {
	log     *slog.Logger
	disks   []quiesce.Disk // whose files the file requests reach
	mounts  []string       // what freeze and shutdown act on
	freezer *freezer
	out     io.Writer
	outMu   sync.Mutex

	ordered chan job
	files   chan struct{}
	// conn counts host connections; a freeze queued by a host that has
	// since gone is not carried out.
	conn atomic.Uint64
	// session is the host session of the last request (read loop only).
	session uint64
	// powerOff ends the guest after a shutdown was answered.
	powerOff func()
}

type job struct {
	req  quiesce.Request
	conn uint64
}

// newServer serves the mounted disks.
func newServer(disks []quiesce.Disk, out io.Writer, log *slog.Logger) *server {
	mounts := make([]string, len(disks))
	for i, d := range disks {
		mounts[i] = d.Mount
	}
	return newServerOn(disks, mounts, out, log)
}

// newServerOn serves files of disks and freezes and unmounts mounts.
func newServerOn(disks []quiesce.Disk, mounts []string, out io.Writer, log *slog.Logger) *server {
	return &server{
		log:      log,
		disks:    disks,
		mounts:   mounts,
		freezer:  newFreezer(mounts, log),
		out:      out,
		ordered:  make(chan job, orderedQueue),
		files:    make(chan struct{}, fileWorkers),
		powerOff: func() { powerOff(log) },
	}
}

// serve reads requests from port until ctx ends. The port reads end-of-file
// whenever no host is connected; the first end-of-file after a connection
// means the host went away, and the guest is thawed at once.
func (s *server) serve(ctx context.Context, port io.Reader) {
	go s.runOrdered(ctx)
	lines := quiesce.NewLineReader(port, quiesce.MaxLine)
	connected := false
	for ctx.Err() == nil {
		line, err := lines.Next()
		switch {
		case err == nil:
			connected = true
			s.dispatch(line)
		case errors.Is(err, quiesce.ErrLineTooLong):
			connected = true
			s.reply(quiesce.Response{Error: "request line too long", Code: quiesce.CodeOf(errdefs.ErrInvalid)})
		default:
			if connected {
				connected = false
				s.hostGone("port closed: " + err.Error())
			}
			lines.Reset(port)
			time.Sleep(hostPoll)
		}
	}
}

func (s *server) hostGone(why string) {
	s.conn.Add(1)
	s.log.Info("host disconnected", "why", why)
	if terr := s.freezer.Thaw("host disconnected"); terr != nil {
		s.log.Error("thaw", "err", terr)
	}
}

func (s *server) dispatch(line []byte) {
	var req quiesce.Request
	if err := json.Unmarshal(line, &req); err != nil {
		s.reply(quiesce.Response{Error: "malformed request", Code: quiesce.CodeOf(errdefs.ErrInvalid)})
		return
	}
	if req.Session != 0 && req.Session != s.session {
		if s.session != 0 {
			s.hostGone("a new host session began")
		}
		s.session = req.Session
	}
	switch req.Op {
	case quiesce.OpPing:
		s.reply(quiesce.Response{ID: req.ID, Status: s.status()})
	case quiesce.OpFreeze, quiesce.OpThaw, quiesce.OpSync, quiesce.OpShutdown:
		select {
		case s.ordered <- job{req: req, conn: s.conn.Load()}:
		default:
			s.fail(req, fmt.Errorf("too many requests queued: %w", errdefs.ErrBusy))
		}
	case quiesce.OpWriteFile, quiesce.OpReadFile:
		select {
		case s.files <- struct{}{}:
			go func() {
				defer func() { <-s.files }()
				s.fileRequest(req)
			}()
		default:
			s.fail(req, fmt.Errorf("too many file requests in flight: %w", errdefs.ErrBusy))
		}
	default:
		s.fail(req, fmt.Errorf("unknown operation %q: %w", req.Op, errdefs.ErrInvalid))
	}
}

func (s *server) runOrdered(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-s.ordered:
			err := s.orderedRequest(j)
			if err != nil {
				s.fail(j.req, err)
				continue
			}
			s.reply(quiesce.Response{ID: j.req.ID})
			if j.req.Op == quiesce.OpShutdown {
				s.powerOff()
				return
			}
		}
	}
}

func (s *server) orderedRequest(j job) error {
	switch j.req.Op {
	case quiesce.OpFreeze:
		if j.conn != s.conn.Load() {
			return fmt.Errorf("host disconnected before the freeze ran: %w", errdefs.ErrBusy)
		}
		return s.freezer.Freeze(holdTime(j.req.HoldMillis))
	case quiesce.OpThaw:
		return s.freezer.Thaw("host asked")
	case quiesce.OpSync:
		unix.Sync()
		return nil
	default: // shutdown
		if err := s.freezer.Thaw("shutdown"); err != nil {
			s.log.Error("thaw", "err", err)
		}
		unix.Sync()
		unmount(s.mounts, s.log)
		s.log.Info("shutting down")
		return nil
	}
}

func holdTime(ms int64) time.Duration {
	if ms <= 0 {
		return quiesce.DefaultFreezeHold
	}
	return min(time.Duration(ms)*time.Millisecond, quiesce.MaxFreezeHold)
}

func (s *server) fileRequest(req quiesce.Request) {
	if req.Op == quiesce.OpWriteFile {
		if err := s.writeFile(req.Disk, req.Path, req.Data); err != nil {
			s.fail(req, err)
			return
		}
		s.reply(quiesce.Response{ID: req.ID})
		return
	}
	data, err := s.readFile(req.Disk, req.Path)
	if err != nil {
		s.fail(req, err)
		return
	}
	s.reply(quiesce.Response{ID: req.ID, Data: data})
}

func (s *server) status() *quiesce.Status {
	return &quiesce.Status{Version: version, Frozen: s.freezer.Frozen(), Disks: s.disks}
}

func (s *server) fail(req quiesce.Request, err error) {
	s.reply(quiesce.Response{ID: req.ID, Error: err.Error(), Code: quiesce.CodeOf(err)})
}

// reply writes one response line. With no host connected the write waits
// for the next one, whose client drops an answer it did not ask for.
func (s *server) reply(r quiesce.Response) {
	line, err := json.Marshal(r)
	if err != nil {
		s.log.Error("encode response", "err", err)
		return
	}
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if _, err := s.out.Write(append(line, '\n')); err != nil {
		s.log.Warn("write response", "err", err)
	}
}
