package nodes

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/boxlite-ai/boxlitefs/core/snapshot"
	"github.com/boxlite-ai/boxlitefs/fs/ops"
)

// Options tune a mount.
type Options struct {
	// AllowOther lets every user enter the mount, with the kernel checking
	// permissions (default_permissions); otherwise only the mounting user can.
	AllowOther bool
	Logger     *slog.Logger
	// LogLines is how many lines the log file keeps (default 1000).
	LogLines int
	// Debug logs every FUSE request.
	Debug bool
	// CloneSettle is how long a copy into clones/NAME that made its box
	// stays idle before it is taken as over (default 3 s); see cloneCopy.
	CloneSettle time.Duration
}

// Timeouts of the kernel's caches: short, so that what another process
// does to the home shows within a second even without an event.
const cacheTimeout = time.Second

// fixedTimeout is how long the kernel keeps what never changes: the fixed
// names inside a box's or a snapshot's directory, the size of a
// snapshot's disk.
const fixedTimeout = time.Hour

// maxIO bounds one READ or WRITE: below 1 MiB, which would not fit a splice
// pipe with its header (go-fuse would fall back on every request).
const maxIO = 512 << 10

// defaultCloneSettle: no copy tool pauses this long between two files.
const defaultCloneSettle = 3 * time.Second

// Mount is a mounted home.
type Mount struct {
	server *fuse.Server
	cancel context.CancelFunc
	done   chan struct{}
	dir    string
	root   *root
}

// New mounts rt at dir and returns once the kernel serves it. The mount
// follows the engine's events and watches the home for other processes'
// changes until Unmount.
func New(ctx context.Context, rt *snapshot.Runtime, dir string, opts Options) (*Mount, error) {
	// go-fuse falls back to fusermount when a direct mount fails, which
	// hides the reason: check the commonest one first.
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("mountpoint: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("mountpoint %s is not a directory", dir)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	lines := opts.LogLines
	if lines <= 0 {
		lines = 1000
	}
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	factEvents, forgetFacts := rt.Subscribe()
	e := &env{rt: rt, log: ops.NewLog(lines, logger), mounted: time.Now(), life: life,
		facts: newFacts(rt, factEvents, cacheTimeout)}
	stop := func() {
		cancel()
		forgetFacts()
	}
	settle := opts.CloneSettle
	if settle <= 0 {
		settle = defaultCloneSettle
	}
	r := newRoot(e, settle)
	timeout := cacheTimeout
	mo := fuse.MountOptions{
		DirectMount:  true,
		FsName:       "boxlitefs",
		Name:         "boxlitefs",
		MaxWrite:     maxIO,
		MaxReadAhead: maxIO,
		AllowOther:   opts.AllowOther,
		// No extended attributes: the kernel stops asking after the
		// first ENOSYS, instead of one round trip per file of ls -l.
		DisableXAttrs: true,
		Debug:         opts.Debug,
		PanicHandler: func(p any) fuse.Status {
			// A bug, not a refusal: the caller gets EIO, the log says where.
			logger.Error("panic serving a request", "panic", p, "stack", string(debug.Stack()))
			e.log.Done("request", "-", fmt.Errorf("internal error: %v", p))
			return fuse.EIO
		},
		Logger: log.New(slogWriter{logger}, "", 0),
	}
	if opts.AllowOther {
		mo.Options = append(mo.Options, "default_permissions")
	}
	fsOpts := &fs.Options{
		MountOptions: mo,
		EntryTimeout: &timeout,
		AttrTimeout:  &timeout,
		UID:          uint32(os.Getuid()),
		GID:          uint32(os.Getgid()),
		Logger:       log.New(slogWriter{logger}, "", 0),
	}
	server, err := fuse.NewServer(uninterruptible{fs.NewNodeFS(r, fsOpts)}, dir, &fsOpts.MountOptions)
	if err != nil {
		stop()
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	go server.Serve()
	if err := server.WaitMount(); err != nil {
		stop()
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	if err := r.probeCopyFileRange(life, dir); err != nil {
		logger.Warn("copies into clones/ may move bytes instead of references", "err", err)
	}
	m := &Mount{server: server, cancel: stop, done: make(chan struct{}), dir: dir, root: r}
	events, unsubscribe := rt.Subscribe()
	go func() {
		defer close(m.done)
		defer unsubscribe()
		r.invalidate(life, events)
	}()
	go func() {
		if err := rt.WatchHome(life, 200*time.Millisecond); err != nil {
			logger.Warn("not watching the home for other processes' changes", "err", err)
		}
	}()
	e.log.Done("mount", dir, nil)
	return m, nil
}

// Wait blocks until the mount is unmounted (by Unmount or umount(8)).
func (m *Mount) Wait() {
	m.server.Wait()
	m.stop()
}

// Unmount detaches the mount and stops following events.
func (m *Mount) Unmount() error {
	err := m.server.Unmount()
	m.stop()
	return err
}

// stop ends what the mount runs beside the kernel's requests: event
// following, the home watch, and copies into clones/ still in progress.
func (m *Mount) stop() {
	m.cancel()
	<-m.done
	m.root.clones.closeAll()
}

// slogWriter routes go-fuse's log lines to slog.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Debug("fuse", "msg", string(p))
	return len(p), nil
}
