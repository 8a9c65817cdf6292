package snapshot

import (
	"fmt"
	"strings"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// ValidateName checks a box or snapshot name against SPEC 2.1: 1-255 bytes,
// no '/', no NUL, not starting with '.', not "." or "..".
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty name: %w", errdefs.ErrInvalid)
	case len(name) > 255:
		return fmt.Errorf("name longer than 255 bytes: %w", errdefs.ErrInvalid)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("name %q contains '/' or NUL: %w", name, errdefs.ErrInvalid)
	case strings.HasPrefix(name, "."):
		return fmt.Errorf("name %q starts with '.': %w", name, errdefs.ErrInvalid)
	}
	return nil
}
