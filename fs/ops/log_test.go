package ops

import (
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

// TestLogRing keeps the newest lines, oldest first, one line per operation
// even when a reason spans lines.
func TestLogRing(t *testing.T) {
	l := NewLog(3, nil)
	for i := range 5 {
		l.Done("mkdir", fmt.Sprintf("boxes/b%d", i), nil)
	}
	got := l.Lines()
	if len(got) != 3 || !strings.HasSuffix(got[0], "mkdir boxes/b2: ok") || !strings.HasSuffix(got[2], "mkdir boxes/b4: ok") {
		t.Fatalf("lines %q", got)
	}
	errno := l.Done("rmdir", "boxes/b4", fmt.Errorf("box b4 is running:\nstop it first: %w", errdefs.ErrBusy))
	if errno != syscall.EBUSY {
		t.Fatalf("errno %v", errno)
	}
	last := l.Lines()[2]
	if !strings.HasSuffix(last, "rmdir boxes/b4: EBUSY: box b4 is running:; stop it first: busy") {
		t.Fatalf("last line %q", last)
	}
	if b := string(l.Bytes()); strings.Count(b, "\n") != 3 || !strings.HasSuffix(b, "busy\n") {
		t.Fatalf("content %q", b)
	}
}
