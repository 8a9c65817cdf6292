package boxsnap

import (
	"fmt"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// corrupt reports an archive that failed verification. format may use %w to
// keep the cause inspectable next to errdefs.ErrCorrupt.
func corrupt(format string, args ...any) error {
	return fmt.Errorf("boxsnap: %w: "+format, append([]any{errdefs.ErrCorrupt}, args...)...)
}

// invalid reports a bad request from the caller (options, inputs of Write).
func invalid(format string, args ...any) error {
	return fmt.Errorf("boxsnap: %w: "+format, append([]any{errdefs.ErrInvalid}, args...)...)
}

// quoteName quotes an untrusted member name for a message, cut short so that
// a megabyte-long PAX path cannot flood a log line.
func quoteName(name string) string {
	const max = 64
	if len(name) > max {
		return fmt.Sprintf("%q…", name[:max])
	}
	return fmt.Sprintf("%q", name)
}

// wrapf adds the package prefix to an error that keeps its own class.
func wrapf(format string, args ...any) error {
	return fmt.Errorf("boxsnap: "+format, args...)
}
