package boxsnap

import (
	"bytes"
	"context"
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/boxlite-ai/boxlitefs/core/errdefs"
)

func TestImporterRoundTrip(t *testing.T) {
	f := newFixture()
	for _, compress := range []bool{true, false} {
		archive := buildTar(t, compress, f.members()...)
		for _, chunk := range []int{7, 4096, 1 << 20} {
			dir := t.TempDir()
			res, err := importInChunks(t, archive, dir, chunk)
			if err != nil {
				t.Fatalf("compress=%v chunk=%d: %v", compress, chunk, err)
			}
			if !bytes.Equal(mustReadFile(t, res.GuestDisk), f.guest) || !bytes.Equal(mustReadFile(t, res.ContainerDisk), f.container) {
				t.Fatalf("compress=%v chunk=%d: staged disks differ", compress, chunk)
			}
		}
	}
}

// failingWrite feeds a plain archive in 512-byte blocks and returns the
// index of the block whose Write failed, or -1 if only Close failed.
func failingWrite(t *testing.T, archive []byte) (int, error) {
	t.Helper()
	dir := t.TempDir()
	imp, err := NewImporter(context.Background(), dir, readOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer assertEmptyDir(t, dir)
	defer imp.Abort()
	for i := 0; i*512 < len(archive); i++ {
		if _, err := imp.Write(archive[i*512 : min((i+1)*512, len(archive))]); err != nil {
			if !errors.Is(err, errdefs.ErrCorrupt) {
				t.Fatalf("write %d: %v is not ErrCorrupt", i, err)
			}
			if _, again := imp.Write([]byte{0}); !errors.Is(again, errdefs.ErrCorrupt) {
				t.Errorf("a write after the failure returned %v", again)
			}
			return i, err
		}
	}
	_, err = imp.Close()
	return -1, err
}

func TestImporterReportsAtTheRevealingWrite(t *testing.T) {
	f := newFixture()
	m := f.members()
	guestBlocks := int(roundUp(int64(len(f.guest)), 512) / 512)
	wrongSum := manifestWith(f, func(fields map[string]string) { fields["guest_disk_checksum"] = strconv.Quote(sha256Hex(nil)) })
	manifestBlocks := int(roundUp(int64(len(wrongSum)), 512) / 512)
	cases := []struct {
		name    string
		archive []byte
		block   int // the block that reveals the fault
		reason  string
	}{
		{"bad name", buildTar(t, false, m[0], regular("../x", f.container), m[2]), 1 + guestBlocks, `"../x"`},
		{"bad magic", bytes.Repeat([]byte("garbage!"), 128), 0, "not an archive"},
		// A size this large takes a PAX header: its header block, its records,
		// then the member's own header.
		{"oversized member", headerOnly(t, MemberGuestDisk, 5<<40, f.guest[:4096]), 2, "allowed"},
		{"checksum with manifest first", buildTar(t, false, regular(MemberManifest, wrongSum), m[0], m[1]),
			1 + manifestBlocks + guestBlocks, "guest-rootfs.qcow2 has checksum"},
		{"symlink", buildTar(t, false, m[0], special(MemberContainerDisk, '2', "/etc"), m[2]), 1 + guestBlocks, "symlink"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			block, err := failingWrite(t, c.archive)
			if block != c.block || !strings.Contains(err.Error(), c.reason) {
				t.Errorf("failed at block %d with %v; want block %d saying %q", block, err, c.block, c.reason)
			}
		})
	}
}

// In a compressed archive the fault surfaces once the zstd block holding it
// is complete, still from a Write rather than from Close.
func TestImporterReportsCompressedFaultFromWrite(t *testing.T) {
	f := newFixture()
	archive := buildTar(t, true, regular("../x", f.guest), regular(MemberContainerDisk, f.container), regular(MemberManifest, f.manifest))
	block, err := failingWrite(t, archive)
	if block < 0 || !strings.Contains(err.Error(), `"../x"`) {
		t.Errorf("failed at block %d with %v, want a failing Write", block, err)
	}
}

func TestImporterReportsTruncationAtClose(t *testing.T) {
	f := newFixture()
	for _, compress := range []bool{true, false} {
		archive := buildTar(t, compress, f.members()...)
		block, err := failingWrite(t, archive[:len(archive)*2/3])
		if block != -1 || !strings.Contains(err.Error(), "truncated") {
			t.Errorf("compress=%v: failed at block %d with %v; want Close to report truncation", compress, block, err)
		}
	}
}

func TestImporterAbortRemovesStaging(t *testing.T) {
	f := newFixture()
	archive := buildTar(t, false, f.members()...)
	dir := t.TempDir()
	imp, err := NewImporter(context.Background(), dir, readOpts())
	if err != nil {
		t.Fatal(err)
	}
	// Past the guest disk: one staged file exists.
	if _, err := imp.Write(archive[:len(f.guest)+2048]); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("staged %d files, want 1", len(entries))
	}
	imp.Abort()
	assertEmptyDir(t, dir)
	if _, err := imp.Write(archive[len(f.guest)+2048:]); err == nil {
		t.Error("Write after Abort succeeded")
	}
	if _, err := imp.Close(); err == nil {
		t.Error("Close after Abort succeeded")
	}
	imp.Abort() // idempotent
}

func TestImporterCancelledContext(t *testing.T) {
	f := newFixture()
	archive := buildTar(t, true, f.members()...)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	imp, err := NewImporter(ctx, dir, readOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer imp.Abort()
	if _, err := imp.Write(archive[:len(archive)/2]); err != nil {
		t.Fatal(err)
	}
	cancel()
	_, err = imp.Write(archive[len(archive)/2:])
	if !errors.Is(err, context.Canceled) || errors.Is(err, errdefs.ErrCorrupt) {
		t.Errorf("got %v, want a cancellation that is not ErrCorrupt", err)
	}
	assertEmptyDir(t, dir)
}

func TestImporterCloseAndWriteAfterSuccess(t *testing.T) {
	f := newFixture()
	dir := t.TempDir()
	imp, err := NewImporter(context.Background(), dir, readOpts())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := imp.Write(buildTar(t, true, f.members()...)); err != nil {
		t.Fatal(err)
	}
	res, err := imp.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := imp.Write([]byte{0}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("Write after Close: %v", err)
	}
	imp.Abort() // a no-op: the files are the caller's now
	if _, err := os.Stat(res.GuestDisk); err != nil {
		t.Errorf("Abort after Close removed the result: %v", err)
	}
}

func TestNewImporterValidatesOptions(t *testing.T) {
	if _, err := NewImporter(context.Background(), t.TempDir(), ReadOptions{}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("no vetter: %v", err)
	}
	if _, err := NewImporter(context.Background(), "/nonexistent/dir", readOpts()); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("no dir: %v", err)
	}
}

// No path, successful or not, leaves a goroutine behind.
func TestNoGoroutineLeaks(t *testing.T) {
	f := newFixture()
	good := buildTar(t, true, f.members()...)
	bad := buildTar(t, true, regular("../x", f.guest))
	before := runtime.NumGoroutine()
	for range 5 {
		importInChunks(t, good, t.TempDir(), 4096)
		importInChunks(t, bad, t.TempDir(), 4096)
		importInChunks(t, good[:len(good)/2], t.TempDir(), 4096)
		imp, _ := NewImporter(context.Background(), t.TempDir(), readOpts())
		imp.Write(good[:1000])
		imp.Abort()
		writeArchive(t, bytesDisk(f.guest), bytesDisk(f.container), WriteOptions{Compress: true, Concurrency: 2})
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

// A full staging filesystem is reported as ENOSPC, not as a bad archive,
// and leaves nothing behind.
func TestImportOutOfSpace(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Skipf("cannot mount a small tmpfs here: %v", err)
	}
	defer syscall.Unmount(dir, 0)
	f := newFixture()
	_, err := Read(context.Background(), bytes.NewReader(buildTar(t, true, f.members()...)), dir, readOpts())
	if !errors.Is(err, syscall.ENOSPC) || errors.Is(err, errdefs.ErrCorrupt) {
		t.Fatalf("got %v, want ENOSPC", err)
	}
	assertEmptyDir(t, dir)
}
