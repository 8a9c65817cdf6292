package ops

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// TestErrno checks the table of SPEC 2.1 through wrapped errors, as the
// engine returns them.
func TestErrno(t *testing.T) {
	wrap := func(class error) error { return fmt.Errorf("box x: snapshot v1: %w", class) }
	cases := []struct {
		err  error
		want syscall.Errno
	}{
		{nil, 0},
		{wrap(errdefs.ErrNotFound), syscall.ENOENT},
		{wrap(errdefs.ErrExists), syscall.EEXIST},
		{wrap(errdefs.ErrInvalid), syscall.EINVAL},
		{wrap(errdefs.ErrBusy), syscall.EBUSY},
		{wrap(errdefs.ErrReadOnly), syscall.EACCES},
		{wrap(errdefs.ErrCorrupt), syscall.EBADMSG},
		{wrap(errdefs.ErrUnsupported), syscall.EOPNOTSUPP},
		{&os.PathError{Op: "write", Path: "f", Err: syscall.ENOSPC}, syscall.ENOSPC},
		{fmt.Errorf("staging: %w", &os.PathError{Op: "write", Path: "f", Err: syscall.EDQUOT}), syscall.ENOSPC},
		{errors.New("something unexpected"), syscall.EIO},
		{&os.PathError{Op: "open", Path: "f", Err: syscall.EPERM}, syscall.EIO},
	}
	for _, c := range cases {
		if got := Errno(c.err); got != c.want {
			t.Errorf("Errno(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	if got := ErrnoName(syscall.EOPNOTSUPP); got != "EOPNOTSUPP" {
		t.Errorf("ErrnoName(EOPNOTSUPP) = %q", got)
	}
}
