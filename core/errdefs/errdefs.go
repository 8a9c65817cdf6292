// Package errdefs defines the classes of error the engine returns.
//
// Every core package wraps one of these sentinels (with %w) so that a caller
// can tell what kind of failure happened without parsing messages. The
// filesystem maps each class to exactly one errno (see fs/ops/errno.go).
package errdefs

import "errors"

var (
	// ErrNotFound: no such box, snapshot, layer or file.
	ErrNotFound = errors.New("not found")
	// ErrExists: the name is taken.
	ErrExists = errors.New("already exists")
	// ErrInvalid: a bad name, value or request.
	ErrInvalid = errors.New("invalid argument")
	// ErrBusy: the box's state forbids the operation right now.
	ErrBusy = errors.New("busy")
	// ErrReadOnly: the object cannot be written or removed.
	ErrReadOnly = errors.New("read-only")
	// ErrCorrupt: an image or archive failed verification.
	ErrCorrupt = errors.New("failed verification")
	// ErrUnsupported: a feature this engine does not implement, or no runner.
	ErrUnsupported = errors.New("not supported")
)
