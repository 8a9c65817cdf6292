package ops

import (
	"context"
	"errors"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// errnoTable is the contract of SPEC 2.1: one errno per class of engine error.
var errnoTable = []struct {
	class error
	errno syscall.Errno
}{
	{errdefs.ErrNotFound, syscall.ENOENT},
	{errdefs.ErrExists, syscall.EEXIST},
	{errdefs.ErrInvalid, syscall.EINVAL},
	{errdefs.ErrBusy, syscall.EBUSY},
	{errdefs.ErrReadOnly, syscall.EACCES},
	{errdefs.ErrCorrupt, syscall.EBADMSG},
	{errdefs.ErrUnsupported, syscall.EOPNOTSUPP},
	{syscall.ENOSPC, syscall.ENOSPC},
	{context.Canceled, syscall.EINTR},
}

// Errno is the errno a file operation returns for err: 0 for nil, the
// class's errno for an engine error, EIO for anything unclassified.
func Errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	for _, e := range errnoTable {
		if errors.Is(err, e.class) {
			return e.errno
		}
	}
	var errno syscall.Errno
	if errors.As(err, &errno) && errno == syscall.EDQUOT {
		return syscall.ENOSPC
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
