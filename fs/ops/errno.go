package ops

import (
	"context"
	"errors"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// Errno is the errno a file operation returns for err: 0 for nil, the
// class's errno for an engine error (the contract of SPEC 2.1), EIO for
// anything unclassified.
func Errno(err error) syscall.Errno {
	var errno syscall.Errno
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errdefs.ErrNotFound):
		return syscall.ENOENT
	case errors.Is(err, errdefs.ErrExists):
		return syscall.EEXIST
	case errors.Is(err, errdefs.ErrInvalid):
		return syscall.EINVAL
	case errors.Is(err, errdefs.ErrBusy):
		return syscall.EBUSY
	case errors.Is(err, errdefs.ErrReadOnly):
		return syscall.EACCES
	case errors.Is(err, errdefs.ErrCorrupt):
		return syscall.EBADMSG
	case errors.Is(err, errdefs.ErrUnsupported):
		return syscall.EOPNOTSUPP
	case errors.Is(err, syscall.ENOSPC), errors.As(err, &errno) && errno == syscall.EDQUOT:
		return syscall.ENOSPC
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	}
	return syscall.EIO
}

// ErrnoName is the symbolic name of an errno for log lines ("ENOENT"),
// "ok" for 0.
func ErrnoName(errno syscall.Errno) string {
	switch errno {
	case 0:
		return "ok"
	case syscall.EOPNOTSUPP: // unix.ErrnoName says ENOTSUP, the same number
		return "EOPNOTSUPP"
	}
	if name := unix.ErrnoName(errno); name != "" {
		return name
	}
	return errno.Error()
}
