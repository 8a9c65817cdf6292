package qcow2

import (
	"fmt"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// errCorrupt reports bytes that are not a valid image: the message names the
// cause and the error wraps errdefs.ErrCorrupt.
func errCorrupt(format string, args ...any) error {
	return fmt.Errorf("qcow2: %s: %w", fmt.Sprintf(format, args...), errdefs.ErrCorrupt)
}

// errUnsupported reports a valid image that uses a feature this package does
// not implement.
func errUnsupported(format string, args ...any) error {
	return fmt.Errorf("qcow2: %s: %w", fmt.Sprintf(format, args...), errdefs.ErrUnsupported)
}

// errInvalid reports a bad argument from the caller.
func errInvalid(format string, args ...any) error {
	return fmt.Errorf("qcow2: %s: %w", fmt.Sprintf(format, args...), errdefs.ErrInvalid)
}
