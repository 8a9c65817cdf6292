package ops

import (
	"context"
	"syscall"
	"testing"
)

// TestCopyOfGeneratedContent: copy_file_range from a generated file into a
// copy under clones/ writes its content in one request, unless the kernel's
// idea of the source's size stops the range short of its end: then cp must
// fall back to read and write, which read to the end.
func TestCopyOfGeneratedContent(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t)
	ct, err := rt.ReserveClone(ctx, "y")
	if err != nil {
		t.Fatal(err)
	}
	defer ct.Close()
	receive := func(rel string) *IncomingHandle {
		in, err := ct.Create(ctx, rel)
		if err != nil {
			t.Fatal(err)
		}
		return NewIncomingHandle(ct, in, rel, NewLog(10, nil), "clones/y/"+rel, func() {})
	}
	value := NewContentHandle([]byte("7\n"))

	short := receive("settings/export.compression_level")
	if n, errno := short.CopyFrom(ctx, value, 0, 0, 1); errno != syscall.EOPNOTSUPP {
		t.Fatalf("a range short of the content's end: %d, %v; want EOPNOTSUPP", n, errno)
	}
	short.Release(ctx)

	whole := receive("settings/export.compression_level")
	if n, errno := whole.CopyFrom(ctx, value, 0, 0, 1<<30); n != 2 || errno != 0 {
		t.Fatalf("a range to the content's end: %d, %v; want 2 bytes", n, errno)
	}
	if errno := whole.Flush(ctx); errno != 0 {
		t.Fatalf("flush: %v", errno)
	}
	whole.Release(ctx)
	if size, _ := ct.Stat("settings/export.compression_level"); size != 2 {
		t.Fatalf("the copy received %d bytes, want 2", size)
	}
}
