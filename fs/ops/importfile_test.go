package ops

import (
	"bytes"
	"context"
	"syscall"
	"testing"

	"github.com/boxlite-ai/boxlitefs/core/snapshot"
)

// TestImportRefusalIsReportedAgain: the write that reveals a bad archive
// fails, and fsync and flush report the same refusal, for writers that
// check only those.
func TestImportRefusalIsReportedAgain(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t)
	session, err := rt.NewImport(ctx, "b", snapshot.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ended := 0
	h := NewImportHandle(session, NewLog(10, nil), "import/b.boxsnap", func() { ended++ })
	if _, errno := h.Write(ctx, bytes.Repeat([]byte("not an archive "), 1<<12), 0); errno != syscall.EBADMSG {
		t.Fatalf("write of a bad archive: %v, want EBADMSG", errno)
	}
	if errno := h.Fsync(ctx, 0); errno != syscall.EBADMSG {
		t.Fatalf("fsync after the refusal: %v, want EBADMSG", errno)
	}
	if errno := h.Flush(ctx); errno != syscall.EBADMSG {
		t.Fatalf("flush after the refusal: %v, want EBADMSG", errno)
	}
	h.Release(ctx)
	if ended != 1 {
		t.Fatalf("the import ended %d times, want once", ended)
	}
	if _, err := rt.Box(ctx, "b"); err == nil {
		t.Fatal("a refused archive made a box")
	}
}
